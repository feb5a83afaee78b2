"""Tuneboard's server for shared deployments: `streamlit run serve.py` (same flags as `streamlit run app.py`).

It serves app.py exactly as `streamlit run app.py` does, with one addition in front of Streamlit's own server:
core/access/upload_gate.py, which refuses uploads from browser sessions that have not signed in with
TUNEBOARD_PASSWORD. With a password set, app.py refuses to run on a server without that gate.
"""

from __future__ import annotations

import streamlit as st
from starlette.middleware import Middleware

from core.access.upload_gate import UploadGate

app = st.App("app.py", middleware=[Middleware(UploadGate)])
