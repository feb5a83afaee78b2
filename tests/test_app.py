from __future__ import annotations

from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT


def test_app_opens_on_home_and_shows_the_data_folder(tuneboard_home):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30).run()
    assert not at.exception
    assert at.title[0].value == "Tuneboard"
    assert any(str(tuneboard_home) in c.value for c in at.sidebar.caption)
    assert [m.value for m in at.metric] == ["0", "0"]
