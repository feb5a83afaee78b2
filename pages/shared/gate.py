"""The optional password of a shared deployment (TUNEBOARD_PASSWORD), asked once per browser session.

Every page calls `require_sign_in()` itself, not only app.py. Streamlit keeps the old folder-based routing for
a folder named pages/ until some session has called st.navigation; in that mode a URL such as /runs runs
pages/runs.py alone, without app.py. So until the first visit to the app's root, a gate in app.py alone would let
anyone read /runs or /data (seen in a real browser; tests/test_browser.py checks every page's URL).
"""

from __future__ import annotations

import hmac
import os

import streamlit as st

PASSWORD_ENV = "TUNEBOARD_PASSWORD"


def password_required() -> bool:
    return bool(os.environ.get(PASSWORD_ENV)) and not st.session_state.get("signed_in")


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
