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
import hmac
import os
import threading
from collections.abc import Iterator

import streamlit as st

from pages.shared.navigation import app_pages

PASSWORD_ENV = "TUNEBOARD_PASSWORD"

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
    return bool(os.environ.get(PASSWORD_ENV)) and not st.session_state.get("signed_in")


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
    expected = os.environ[PASSWORD_ENV]
    st.title("Tuneboard")
    typed = st.text_input("Password", type="password", key="password",
                          help="This Tuneboard is shared; ask whoever set it up for the password.")
    # compare_digest: the time taken does not reveal how much of the password was right
    if typed and hmac.compare_digest(typed.encode(), expected.encode()):
        st.session_state["signed_in"] = True
        st.rerun()
    if typed:
        st.error("That password is not right. Check it and try again.")
    st.stop()
