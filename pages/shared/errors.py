"""What a user sees when something fails: one plain sentence, the technical detail folded away below it.

`error_ui` for failures a page expects (bad data, a model that will not load), `unexpected_error_ui` for the rest.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import ParamSpec

import streamlit as st

from pages.shared.user_text import md

log = logging.getLogger("tuneboard.app")
P = ParamSpec("P")
DETAILS_LABEL = "Technical details"


def error_ui(message: str, detail: str = "", *, key: str) -> None:
    """The plain sentence, then the detail (a parser's message, a traceback) in a folded box under `key`.

    The message is shown as plain text: it often quotes what the user typed (a file, column or model name).
    """
    st.error(md(message, limit=None))
    if detail:
        with st.expander(DETAILS_LABEL, key=key):
            st.code(detail, language=None)


def unexpected_error_ui(error: Exception, key: str = "app_error_details") -> None:
    """The last line of defence: a plain sentence first, the traceback folded away (it still reaches the log).

    st.exception inside the expander keeps the failure visible to AppTest (`at.exception`), so tests still fail on it.
    """
    log.exception("Page failed", exc_info=error)
    st.error("Something went wrong on this page: reload it to try again, and if that does not help, send the "
             "technical details below to whoever looks after Tuneboard.")
    with st.expander(DETAILS_LABEL, key=key):
        st.exception(error)


def guarded(body: Callable[P, None]) -> Callable[P, None]:
    """For the body of an st.fragment: its reruns run the fragment alone, never app.py's handler around the page,
    and Streamlit would show an unfolded traceback. st.stop() and st.rerun() raise BaseExceptions and pass through."""

    @functools.wraps(body)
    def run(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            body(*args, **kwargs)
        except Exception as error:  # noqa: BLE001 - any failure becomes a plain message, never a bare traceback
            unexpected_error_ui(error, key=f"error_details_{body.__name__}")

    return run
