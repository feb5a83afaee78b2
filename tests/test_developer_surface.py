"""What Streamlit shows app users of its developer surface: no developer menu or Deploy button, and an error no
page handled reads as a generic sentence while its traceback goes to the server's log.

tests/test_browser.py checks the header in a real browser (no Deploy, no developer items, no "Stop").
"""

from __future__ import annotations

import os

import pytest
from streamlit import config
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT
from tests.live_app import LiveApp

# Streamlit's own sentence for a redacted error (streamlit/elements/exception.py), shown without a type.
REDACTED = ": This app has encountered an error. The original error message is redacted"


@pytest.fixture
def app_config(monkeypatch):
    """Streamlit's options as `streamlit run app.py` reads them: its loader, in the app's folder."""
    monkeypatch.chdir(ROOT)
    for name in [n for n in os.environ if n.startswith("STREAMLIT_")]:
        monkeypatch.delenv(name)  # a developer's own overrides are not the app's settings
    config.get_config_options(force_reparse=True)
    yield config
    config.get_config_options(force_reparse=True)


def test_users_get_no_developer_menu_and_no_error_details(app_config):
    assert app_config.get_option("client.toolbarMode") == "viewer"  # no Rerun, Clear cache or Deploy
    assert app_config.get_option("client.showErrorDetails") == "none"


def test_an_unhandled_error_shows_no_type_message_or_traceback(app_config):
    at = AppTest.from_string("raise RuntimeError('/srv/tuneboard/secret.py failed')").run()
    [shown] = at.exception
    assert shown.message.startswith("This app has encountered an error.") and "/srv" not in shown.message
    assert not shown.stack_trace and not shown.proto.type


@pytest.mark.slow  # a real `streamlit run app.py`: about 5 s
def test_a_signed_out_visitor_sending_a_made_up_widget_id_sees_no_traceback_and_the_log_has_it(tuneboard_home):
    """The browser is the client: a visitor can send any widget id. Streamlit fails on one the password form never
    drew, outside app.py's own error handler; that traceback named server paths and showed source lines."""
    log = tuneboard_home.parent / "streamlit.log"
    env = {**os.environ, "TUNEBOARD_HOME": str(tuneboard_home), "HF_HUB_OFFLINE": "1", "TUNEBOARD_NO_WORKER": "1",
           "TUNEBOARD_PASSWORD": "pilot-2026"}
    app = LiveApp(tuneboard_home, env, log, entry="serve.py")  # with a password, the app runs only behind the gate
    app.start()
    try:
        visit = app.visit(trigger="made-up-widget")
    finally:
        app.kill()
    assert len(visit.exceptions) == 1 and visit.exceptions[0].startswith(REDACTED), visit.exceptions
    assert visit.traces == []
    written = log.read_text(errors="replace")
    assert "KeyError" in written and "require_sign_in" in written  # the details stay on the server
