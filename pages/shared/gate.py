"""How a page is entered: always through app.py, and behind the optional password (TUNEBOARD_PASSWORD).

Streamlit keeps the old folder-based routing for a folder named pages/ until some session has called
st.navigation; in that mode a URL such as /runs runs pages/runs.py alone, without app.py. On a freshly started
server the first visitor of such a URL would get no password, no background worker, no sidebar status and
Streamlit's file-name navigation ("app", "runs"...). So every page calls `enter_page()` first: a page run without
app.py hands over to it (one st.navigation call switches the server to app.py's routing for good, then a rerun
lands on the same URL through app.py), and the password is asked for there.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from core.access import upload_gate
from core.access.sign_in import attempt, password_set
from pages.shared.navigation import app_pages

# Set while app.py runs a page. Streamlit runs a session's scripts on that session's own thread, so this cannot
# leak into another session, and running_through_app clears it when the run ends.
_through_app = threading.local()


@contextlib.contextmanager
def running_through_app() -> Iterator[None]:
    _through_app.active = True
    try:
        yield
    finally:
        _through_app.active = False


def password_required() -> bool:
    return password_set() and not st.session_state.get("signed_in")


def enter_page() -> None:
    """First line of every page: hand a page run without app.py over to app.py; ask for the password if needed."""
    if not getattr(_through_app, "active", False) and not st.session_state.get("handed_to_app"):
        # Once per session: should the rerun still not go through app.py (a page run on its own in a test),
        # the password form below keeps the page closed all the same.
        st.session_state["handed_to_app"] = True
        st.navigation(app_pages(), position="hidden")
        st.rerun()
    require_sign_in()


def require_sign_in() -> None:
    """Ask for the password and stop the page until it is right; no-op when none is set or already signed in."""
    if not password_required():
        return
    st.title("Tuneboard")
    if st.context.headers and not upload_gate.installed():
        # A session that came over HTTP (AppTest's have no headers) on a server started with `streamlit run app.py`,
        # whose upload endpoint takes files from sessions that never signed in.
        st.error("This Tuneboard has a password but was started without its upload gate: whoever runs it should "
                 "start it with `streamlit run serve.py` (README, Shared deployments).")
        st.stop()
    st.text_input("Password", type="password", key="password", on_change=_take_guess,
                  help="This Tuneboard is shared; ask whoever set it up for the password.")
    # Checked once per submission (the box's on_change), never on other reruns: each check counts as a guess.
    typed = st.session_state.pop("password_guess", "")
    if typed:
        ctx = get_script_run_ctx()
        result = attempt(typed, ctx.session_id if ctx else "", st.context.ip_address)
        if result.signed_in:
            st.session_state["signed_in"] = True
            st.rerun()
        st.error(result.message)
    st.stop()


def _take_guess() -> None:
    """Take the submitted password out of the box, which is left empty for the next try (a box still holding the
    same text could not be submitted again after a wait)."""
    st.session_state["password_guess"] = st.session_state["password"]
    st.session_state["password"] = ""
