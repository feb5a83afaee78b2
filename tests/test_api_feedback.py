"""Feedback, kept inputs and champion/challenger endpoints over real HTTP, against `python -m core serve` in a
subprocess (tests/live_api.py) on a real finished run (tests/finished_runs.py); keys and endpoints are made through
storage, as the API keys page makes them. Plus fast checks of the split routing."""

from __future__ import annotations

import time

import pandas as pd
import pytest

from core.api.endpoints import goes_to_challenger
from core.api.monitoring import traffic
from core.evaluation.verdict import accuracy_interval
from storage.api_keys import create_key
from storage.api_log import logged_answers
from storage.db import session_factory
from tests.test_api import TEXTS, on_text_api, text_api  # noqa: F401  (fixtures: one server for this module)


def test_split_routing_sends_the_share_asked_for_and_depends_on_the_request_id_alone():
    ids = [f"{i:032x}" for i in range(20_000)]
    for share in (0.0, 0.1, 0.5, 1.0):
        sent = sum(goes_to_challenger(i, share) for i in ids) / len(ids)
        assert sent == pytest.approx(share, abs=0.01)
    assert [goes_to_challenger(i, 0.3) for i in ids[:50]] == [goes_to_challenger(i, 0.3) for i in ids[:50]]


def logged(request_id: str, count: int, timeout: float = 10.0) -> pd.DataFrame:
    """The rows of one request, once `count` are written (answers are logged after the reply)."""
    deadline = time.monotonic() + timeout
    while True:
        rows = pd.concat([found[found["request_id"] == request_id] for run in (1, 2)
                          if not (found := logged_answers(run)).empty] or [logged_answers(1)], ignore_index=True)
        if len(rows) >= count or time.monotonic() > deadline:
            return rows


@pytest.mark.slow  # a finished run and an API server in a subprocess
def test_feedback_is_stored_on_the_answer_and_live_accuracy_follows(on_text_api):
    api = on_text_api
    _, key = create_key("feedback")
    answer = api.call("POST", "/v1/models/1/predict", key, {"texts": TEXTS})
    assert answer.status == 200 and len(answer.body["request_id"]) == 32
    request_id, (first, second) = answer.body["request_id"], answer.body["predictions"]
    other = {"ham": "spam", "spam": "ham"}
    # Sent at once, before the answers are surely logged: the API waits for them rather than refusing.
    right = api.call("POST", "/v1/feedback", key, {"request_id": request_id, "index": 0, "label": first["label"]})
    assert right.status == 200, right.body
    assert right.body == {"request_id": request_id, "index": 0, "label": first["label"], "answer": first["label"],
                          "correct": True, "replaced": False}
    wrong = api.call("POST", "/v1/feedback", key, {"request_id": request_id, "index": 1,
                                                   "label": other[second["label"]]})
    assert (wrong.body["correct"], wrong.body["replaced"]) == (False, False)
    again = api.call("POST", "/v1/feedback", key, {"request_id": request_id, "index": 1,
                                                   "label": other[second["label"]]})
    assert again.body["replaced"] is True

    rows = logged(request_id, 2)
    assert rows.sort_values("answer_index")["true_label"].tolist() == [first["label"], other[second["label"]]]
    seen = traffic(rows).accuracy
    assert (seen.correct, seen.labelled) == (1, 2) and seen.interval == accuracy_interval(1, 2)


@pytest.mark.slow  # a finished run and an API server in a subprocess
def test_bad_feedback_is_refused_in_one_plain_json_error(on_text_api):
    api = on_text_api
    _, key = create_key("feedback")
    request_id = api.call("POST", "/v1/models/1/predict", key, {"text": TEXTS[0]}).body["request_id"]
    cases = [
        ({"request_id": "f" * 32, "index": 0, "label": "ham"}, 404, "unknown_request",
         "No answer has this request_id; send the `request_id` of a predict response of this server."),
        ({"request_id": request_id, "index": 3, "label": "ham"}, 404, "unknown_index",
         "That request holds 1 answer (index 0 to 0); send the `index` of one of them."),
        ({"request_id": request_id, "index": 0, "label": "eggs"}, 422, "unknown_label",
         "The label is not one of run 1's classes (ham, spam); send one of them, spelled exactly."),
        ({"request_id": request_id, "label": "ham", "note": "x"}, 422, "invalid_request", None),
        ({"index": 0, "label": "ham"}, 422, "invalid_request", "request_id: Field required."),
    ]
    for body, status, code, message in cases:
        refused = api.call("POST", "/v1/feedback", key, body)
        assert (refused.status, refused.body["error"]["code"]) == (status, code), refused.body
        assert message is None or refused.body["error"]["message"] == message
    assert api.call("POST", "/v1/feedback", None, cases[0][0]).status == 401


@pytest.mark.slow  # a finished run and an API server in a subprocess
def test_texts_are_kept_only_for_a_key_that_opts_in(on_text_api):
    api = on_text_api
    _, keeping = create_key("keeps inputs", log_inputs=True)
    _, plain = create_key("keeps nothing")
    kept = api.call("POST", "/v1/models/1/predict", keeping, {"texts": TEXTS}).body["request_id"]
    not_kept = api.call("POST", "/v1/models/1/predict", plain, {"texts": TEXTS}).body["request_id"]
    from sqlalchemy import select

    from storage.models import ApiPrediction

    logged(kept, 2), logged(not_kept, 2)
    with session_factory()() as s:
        texts = dict(s.execute(select(ApiPrediction.request_id, ApiPrediction.input_text)
                               .where(ApiPrediction.answer_index == 1)).all())
    assert texts[kept] == TEXTS[1] and texts[not_kept] is None
