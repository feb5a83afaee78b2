"""Uploads need the password: with TUNEBOARD_PASSWORD set, Streamlit's upload endpoint refuses files for a browser
session that has not signed in (core/access/upload_gate.py, put in front of Streamlit by serve.py).

The real server, started as README's shared-deployment recipe says (`streamlit run serve.py`); the visitor is a
websocket client that does what the attack did: open a session, ask it for an upload URL, PUT a file with a
made-up XSRF cookie and header. A 1 kB file keeps the test's memory small; the gate refuses before reading any.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.live_app import LiveApp, LiveSession

PASSWORD = "s3cret pilot"
SMALL_FILE = b"text,label\n" + b"hello,greeting\n" * 60  # about 1 kB


pytestmark = pytest.mark.slow  # each test starts a real Streamlit server


def started(home: Path, entry: str) -> LiveApp:
    env = {**os.environ, "TUNEBOARD_HOME": str(home), "TUNEBOARD_NO_WORKER": "1", "TUNEBOARD_PASSWORD": PASSWORD}
    app = LiveApp(home, env, home.parent / f"{entry}.log", entry=entry)
    app.start()
    return app


@pytest.fixture
def gated_app(tuneboard_home: Path):
    app = started(tuneboard_home, "serve.py")
    yield app
    app.kill()


def test_a_visitor_who_did_not_sign_in_cannot_upload(gated_app):
    with LiveSession(gated_app) as visitor:
        assert "Password" in visitor.visit.inputs  # the sign-in form, nothing else
        assert visitor.upload("data.csv", SMALL_FILE) == 403
        assert "That password is not right" in " ".join(visitor.type_into("Password", "wrong guess").texts)
        assert visitor.upload("data.csv", SMALL_FILE) == 403


def test_a_signed_in_session_uploads_as_before(gated_app):
    with LiveSession(gated_app) as user:
        shown = user.type_into("Password", PASSWORD)
        assert not shown.exceptions and any("No datasets yet" in text for text in shown.texts)  # the Home page
        assert user.upload("data.csv", SMALL_FILE) == 204  # Streamlit's answer to a stored upload


def test_with_a_password_the_app_refuses_to_run_on_a_server_without_the_gate(tuneboard_home):
    """`streamlit run app.py` takes uploads from anyone (the upload above answers 204 there): so, with a password
    set, the app shows only how to start it properly, and no password box that would suggest it is protected."""
    app = started(tuneboard_home, "app.py")
    try:
        visit = app.visit()
        assert not visit.inputs
        assert any("streamlit run serve.py" in text for text in visit.texts), visit.texts
    finally:
        app.kill()
