"""The Monitor page and its figures, from answers logged as the API logs them (storage/api_log.py)."""

from __future__ import annotations

import pandas as pd
import pytest

from core.api.monitoring import traffic
from storage.api_log import log_answers, logged_answers, runs_with_answers
from storage.db import session_factory
from storage.models import SUCCEEDED, Dataset, Run
from tests.conftest import ROOT


def finished_run() -> int:
    with session_factory().begin() as s:
        dataset = Dataset(name="sms", task="text", labels=["ham", "spam"])
        s.add(dataset)
        s.flush()
        run = Run(dataset_id=dataset.id, status=SUCCEEDED, config={"model": "tiny-bert", "method": "full"},
                  artifact_dir="runs/1")
        s.add(run)
        s.flush()
        return run.id


def log_some(run_id: int) -> None:
    # 4 requests of 10, 20, 30 and 100 ms; 5 answers, one uncertain
    log_answers("a" * 32, 1, run_id, 10.0, [("ham", 0.9, False), ("spam", 0.8, False)])
    log_answers("b" * 32, 1, run_id, 20.0, [("ham", 0.95, False)])
    log_answers("c" * 32, None, run_id, 30.0, [("ham", 0.55, True)])
    log_answers("d" * 32, 1, run_id, 100.0, [("spam", 0.99, False)])


def test_latency_is_counted_per_request_and_the_mix_per_answer():
    run_id = finished_run()
    log_some(run_id)
    assert runs_with_answers() == [run_id]
    seen = traffic(logged_answers(run_id))
    assert (seen.requests, seen.answers) == (4, 5)
    assert seen.p50_ms == pytest.approx(25.0) and seen.p95_ms == pytest.approx(89.5)
    assert seen.uncertain_share == pytest.approx(0.2)
    assert seen.class_mix.to_dict("records") == [{"class": "ham", "answers": 3, "share": 0.6},
                                                 {"class": "spam", "answers": 2, "share": 0.4}]
    assert seen.over_time["requests"].sum() == 4
    assert traffic(logged_answers(run_id, since=pd.Timestamp("2999-01-01").to_pydatetime())).requests == 0


@pytest.mark.slow  # AppTest runs app.py and the page: seconds
def test_the_monitor_page_shows_a_runs_calls():
    from streamlit.testing.v1 import AppTest

    run_id = finished_run()
    log_some(run_id)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    at.switch_page("pages/monitor.py").run()
    assert not at.exception
    assert {m.label: m.value for m in at.metric} == {"Requests": "4", "Latency p50": "25 ms",
                                                     "Latency p95": "89 ms", "Uncertain": "20%"}
    assert at.dataframe[0].value["class"].tolist() == ["ham", "spam"]
