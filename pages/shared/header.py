"""Streamlit's header as the app's users see it: no "Stop" beside the running indicator.

Streamlit shows "Stop" in the header whenever a script run takes over half a second. It stops only that run of
the page, yet on the Runs page, which refreshes itself every 2 seconds while a run trains, it reads like "stop
training". No setting removes it (client.toolbarMode in .streamlit/config.toml removes Deploy and the developer
menu, not this), so a style rule hides the button; the running indicator beside it stays.
"""

from __future__ import annotations

import streamlit as st

# st.html with only a <style> sends it to Streamlit's event container: it takes no space on the page.
HIDE_STOP_BUTTON = "<style>[data-testid='stStatusWidget'] button { display: none; }</style>"


def header_ui() -> None:
    st.html(HIDE_STOP_BUTTON)
