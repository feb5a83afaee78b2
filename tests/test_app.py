from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT


def test_app_opens_on_home_and_does_not_show_the_data_folder(tuneboard_home):
    """The sidebar says where data is kept in words, not the server's path (issue 15: a shared Tuneboard's
    visitors need not know its folders)."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30).run()
    assert not at.exception
    assert at.title[0].value == "Tuneboard"
    sidebar = " ".join(c.value for c in at.sidebar.caption)
    assert "Database: SQLite in the data folder" in sidebar
    assert str(tuneboard_home) not in sidebar and str(tuneboard_home.parent) not in sidebar
    assert [m.value for m in at.metric] == ["0", "0"]


def test_password_gate_hides_everything_until_the_right_password(monkeypatch):
    monkeypatch.setenv("TUNEBOARD_PASSWORD", "s3cret pilot")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30).run()
    assert not at.exception
    assert [t.label for t in at.text_input] == ["Password"]
    assert not at.metric  # the Home page did not render

    at.text_input(key="password").set_value("wrong").run()
    assert "not right" in at.error[0].value
    assert not at.metric

    at.text_input(key="password").set_value("s3cret pilot").run()
    assert not at.exception
    assert [m.label for m in at.metric][:2] == ["Datasets", "Runs"]


@pytest.mark.parametrize("page", ["home", "data", "train", "runs", "results", "predict", "api_keys", "monitor"])
def test_a_page_opened_without_app_py_asks_for_the_password_itself(page, monkeypatch):
    """Streamlit's folder routing can run pages/<page>.py alone for a URL like /runs (pages/shared/gate.py).

    In a real server the page hands over to app.py (tests/test_browser.py checks that). Run on its own here, app.py
    is not the main script, so the hand-over cannot happen: the page must still show nothing but the password."""
    monkeypatch.setenv("TUNEBOARD_PASSWORD", "s3cret pilot")
    at = AppTest.from_file(str(ROOT / "pages" / f"{page}.py"), default_timeout=60).run()
    assert not at.exception
    assert [t.label for t in at.text_input] == ["Password"]
    assert [t.value for t in at.title] == ["Tuneboard"]  # the gate's title, not the page's
    assert not at.metric and not at.dataframe and not at.button and not at.info and not at.markdown

    at.text_input(key="password").set_value("wrong").run()
    assert "not right" in at.error[0].value and [t.value for t in at.title] == ["Tuneboard"]


def test_the_app_does_not_watch_source_files():
    """With .venv inside the app folder, Streamlit's file watcher re-walked every imported library file after each
    refresh of the Runs page and slowed a watched training run 9-fold (bench/overhead.py measures watching)."""
    import tomllib

    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["fileWatcherType"] == "none"
