"""API keys: shown once, stored as a hash, found by the key, refused once revoked (storage/api_keys.py)."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select

from storage.api_keys import ApiKeyError, create_key, find_key, list_keys, note_use, revoke_key, set_log_inputs
from storage.db import session_factory
from storage.models import ApiKey


def test_a_key_is_stored_only_as_its_hash_and_found_again_by_the_key():
    info, key = create_key("CRM integration", requests_per_minute=30)
    assert key.startswith("tb_") and len(key) > 40 and info.prefix == key[:10]
    with session_factory()() as s:
        (row,) = s.scalars(select(ApiKey)).all()
        stored = [str(getattr(row, c.key)) for c in ApiKey.__table__.columns]
    assert key not in " ".join(stored)
    assert row.key_hash == hashlib.sha256(key.encode()).hexdigest()
    found = find_key(key)
    assert (found.id, found.name, found.requests_per_minute, found.active) == (info.id, "CRM integration", 30, True)
    assert find_key(key[:-1] + ("A" if key[-1] != "A" else "B")) is None
    assert find_key("not-a-key") is None


def test_a_revoked_key_is_still_listed_but_no_longer_active():
    first, first_key = create_key("first")
    second, _ = create_key("second")
    revoke_key(first.id)
    revoke_key(first.id)  # twice changes nothing
    assert [(k.name, k.active) for k in list_keys()] == [("second", True), ("first", False)]
    assert find_key(first_key).active is False


def test_keeping_inputs_is_off_until_a_key_opts_in():
    info, key = create_key("crm")
    assert find_key(key).log_inputs is False
    assert set_log_inputs(info.id, True).log_inputs is True and find_key(key).log_inputs is True
    assert create_key("audit", log_inputs=True)[0].log_inputs is True
    with pytest.raises(ApiKeyError, match="There is no API key #99"):
        set_log_inputs(99, True)


def test_last_use_is_written_once_a_minute_at_most():
    info, key = create_key("batch job")
    note_use(find_key(key))
    used = find_key(key).last_used_at
    assert used is not None
    note_use(find_key(key))
    assert find_key(key).last_used_at == used


@pytest.mark.parametrize("name,rate,says", [("", 10, "Give the key a name"), ("x" * 201, 10, "at most 200"),
                                            ("ok", 0, "between 1 and")])
def test_bad_key_settings_get_one_plain_sentence(name, rate, says):
    with pytest.raises(ApiKeyError, match=says):
        create_key(name, rate)
    with pytest.raises(ApiKeyError, match="There is no API key #99"):
        revoke_key(99)


# --- The API keys page ---------------------------------------------------------------------------------------------


def open_keys_page():
    from streamlit.testing.v1 import AppTest

    from tests.conftest import ROOT

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    at.switch_page("pages/api_keys.py").run()
    assert not at.exception
    return at


@pytest.mark.slow  # AppTest runs app.py and the page: seconds
def test_the_page_shows_a_new_key_once_and_revokes_it():
    at = open_keys_page()
    assert at.title[0].value == "API keys"
    assert any(i.value.startswith("No finished run yet") for i in at.info)  # the calls need a run: Train first
    at.text_input(key="api_key_name").input("CRM [integration](http://x)")
    at.number_input(key="api_key_rate").set_value(30)
    at.button(key="api_key_create").click().run()
    assert not at.exception
    (key,) = [c.value for c in at.code if c.value.startswith("tb_")]
    assert find_key(key).name == "CRM [integration](http://x)" and find_key(key).requests_per_minute == 30
    assert "CRM \\[integration\\]" in at.success[0].value  # the name the user typed is shown escaped
    table = at.dataframe[0].value
    assert list(table["Status"]) == ["active"] and key not in table.to_string()

    assert list(table["Keeps inputs"]) == [False]  # off unless the user opts in

    at.run()  # any next run: the key is gone from the page for good
    assert not [c.value for c in at.code if c.value.startswith("tb_")]

    at.toggle(key=f"api_key_inputs_{find_key(key).id}").set_value(True).run()
    assert not at.exception and find_key(key).log_inputs is True
    assert list(at.dataframe[0].value["Keeps inputs"]) == [True]

    at.button(key="api_key_revoke").click().run()
    assert not at.exception
    assert list(at.dataframe[0].value["Status"]) == ["revoked"]
    assert find_key(key).active is False


@pytest.mark.slow  # AppTest runs app.py and the page: about a second
def test_a_key_without_a_name_is_refused_in_one_sentence():
    at = open_keys_page()
    at.button(key="api_key_create").click().run()
    assert [e.value for e in at.error] == ["Give the key a name, such as the system that will use it."]
    assert list_keys() == []


@pytest.mark.slow  # AppTest runs app.py and the page: seconds
def test_an_endpoint_is_made_and_changed_on_the_page():
    from storage.endpoints import get_endpoint
    from tests.test_monitor import finished_run

    champion, challenger = finished_run(), finished_run()
    at = open_keys_page()
    at.text_input(key="endpoint_name_New endpoint").input("spam-filter")
    at.selectbox(key="endpoint_champion_New endpoint").set_value(champion)
    at.button(key="endpoint_save_New endpoint").click().run()
    assert not at.exception and at.success[0].value.startswith("Endpoint **spam-filter** saved")
    assert (get_endpoint("spam-filter").champion_run_id, get_endpoint("spam-filter").mode) == (champion, "off")
    assert any("/v1/endpoints/spam-filter/predict" in c.value for c in at.code)

    at.run()  # the picker lists it from the next run on
    at.selectbox(key="endpoint_pick").set_value("spam-filter").run()
    at.selectbox(key="endpoint_challenger_spam-filter").set_value(challenger)
    at.radio(key="endpoint_mode_spam-filter").set_value("split")
    at.slider(key="endpoint_share_spam-filter").set_value(25)
    at.button(key="endpoint_save_spam-filter").click().run()
    assert not at.exception
    found = get_endpoint("spam-filter")
    assert (found.challenger_run_id, found.mode, found.challenger_share) == (challenger, "split", 0.25)

    at.radio(key="endpoint_mode_spam-filter").set_value("shadow")
    at.selectbox(key="endpoint_challenger_spam-filter").set_value(None)
    at.button(key="endpoint_save_spam-filter").click().run()
    assert [e.value for e in at.error] == ["Choose a challenger run, or set the mode to champion only."]

    at.button(key="endpoint_delete_spam-filter").click().run()  # the popover's second click
    assert not at.exception and get_endpoint("spam-filter") is None
    assert at.selectbox(key="endpoint_pick").value == "New endpoint"
