"""Feedback, kept inputs and champion/challenger endpoints over real HTTP, against `python -m core serve` in a
subprocess (tests/live_api.py) on a real finished run (tests/finished_runs.py); keys and endpoints are made through
storage, as the API keys page makes them. The challenger is the same model with a two-class threshold of 0, so it
answers "spam" to everything and its answers can be told from the champion's. Plus fast checks of the split routing.

One server serves the whole module, so each test makes its own key and endpoint and reads only its own requests."""

from __future__ import annotations

import time

import pandas as pd
import pytest

from core.api.endpoints import goes_to_challenger
from core.api.monitoring import compare, traffic
from core.evaluation.verdict import accuracy_interval
from storage.api_keys import create_key
from storage.api_log import endpoint_answers, logged_answers
from storage.db import session_factory
from storage.endpoints import promote, save_endpoint
from storage.models import SHADOW, SPLIT, Run
from tests.test_api import TEXTS, expected_answers, on_text_api, text_api  # noqa: F401  (fixtures: one server)


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


def always_spam_run() -> int:
    """A second finished run: run 1's model and folder, with a two-class threshold of 0 (every answer is spam)."""
    from sqlalchemy import select

    with session_factory().begin() as s:
        if (found := s.scalar(select(Run.id).where(Run.name == "always spam"))) is not None:
            return found
        one = s.get(Run, 1)
        two = Run(dataset_id=one.dataset_id, name="always spam", config=dict(one.config), status=one.status,
                  artifact_dir=one.artifact_dir, calibration=dict(one.calibration), metrics=dict(one.metrics),
                  finished_at=one.finished_at, threshold=0.0)
        s.add(two)
        s.flush()
        return two.id


@pytest.mark.slow  # a finished run and an API server in a subprocess
def test_shadow_traffic_logs_both_answers_and_returns_the_champions(on_text_api):
    api = on_text_api
    challenger = always_spam_run()
    save_endpoint("shadowed", 1, challenger, SHADOW)
    _, key = create_key("shadow")
    answer = api.call("POST", "/v1/endpoints/shadowed/predict", key, {"texts": TEXTS})
    assert answer.status == 200, answer.body
    assert (answer.body["run"], answer.body["endpoint"], answer.body["role"]) == (1, "shadowed", "champion")
    returned = [p["label"] for p in answer.body["predictions"]]
    assert returned == [label for label, _, _ in expected_answers(1, TEXTS)]  # the champion's answers, not spam
    request_id = answer.body["request_id"]

    rows = logged(request_id, 4).sort_values(["shadow", "answer_index"])
    assert rows[["run_id", "role", "shadow", "endpoint"]].values.tolist() == [
        [1, "champion", False, "shadowed"], [1, "champion", False, "shadowed"],
        [challenger, "challenger", True, "shadowed"], [challenger, "challenger", True, "shadowed"]]
    assert rows["label"].tolist() == returned + ["spam", "spam"]
    # Feedback goes on both runs' answers, so the Monitor page compares them on it.
    assert api.call("POST", "/v1/feedback", key, {"request_id": request_id, "index": 0, "label": "spam"}).status == 200
    seen = compare(endpoint_answers("shadowed"), {1: "champion", challenger: "challenger"})
    assert seen.shadowed >= 2 and [f.accuracy.labelled for f in seen.runs] == [1, 1]
    assert seen.runs[1].accuracy.correct == 1


@pytest.mark.slow  # a finished run and an API server in a subprocess
def test_a_split_endpoint_sends_the_share_set_to_the_challenger_by_request_id(on_text_api):
    api = on_text_api
    challenger = always_spam_run()
    save_endpoint("split", 1, challenger, SPLIT, 0.3)
    _, key = create_key("split")
    answered = [api.call("POST", "/v1/endpoints/split/predict", key, {"text": TEXTS[1]}).body for _ in range(40)]
    routed = [goes_to_challenger(a["request_id"], 0.3) for a in answered]
    assert [(a["run"], a["role"]) for a in answered] == [
        (challenger, "challenger") if to_challenger else (1, "champion") for to_challenger in routed]
    assert 3 <= sum(routed) <= 25  # 40 requests at 30%: 12 expected; outside this about once in 10,000 runs
    assert all(a["predictions"][0]["label"] == "spam" for a in answered if a["role"] == "challenger")


@pytest.mark.slow  # a finished run and an API server in a subprocess
def test_promoting_the_challenger_swaps_the_roles_from_the_next_request(on_text_api):
    api = on_text_api
    challenger = always_spam_run()
    save_endpoint("promoted", 1, challenger, SHADOW)
    _, key = create_key("promote")
    before = api.call("POST", "/v1/endpoints/promoted/predict", key, {"text": TEXTS[1]}).body
    assert (before["run"], before["role"]) == (1, "champion")
    info = promote("promoted")
    assert (info.champion_run_id, info.challenger_run_id) == (challenger, 1)
    after = api.call("POST", "/v1/endpoints/promoted/predict", key, {"text": TEXTS[1]}).body
    assert (after["run"], after["role"], after["predictions"][0]["label"]) == (challenger, "champion", "spam")
    rows = logged(after["request_id"], 2)
    assert sorted(rows[["run_id", "role"]].values.tolist()) == sorted([[challenger, "champion"], [1, "challenger"]])
    missing = api.call("POST", "/v1/endpoints/nothing-here/predict", key, {"text": "hi"})
    assert (missing.status, missing.body["error"]["code"]) == (404, "unknown_endpoint")
