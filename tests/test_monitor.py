"""The Monitor page and its figures, from answers logged as the API logs them (storage/api_log.py)."""

from __future__ import annotations

import pandas as pd
import pytest

from core.api.monitoring import compare, drift, live_accuracy, training_mix, traffic
from core.evaluation.verdict import accuracy_interval
from storage.api_log import answered_request, log_answers, logged_answers, runs_with_answers, save_feedback
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
                                                     "Latency p95": "89 ms", "Uncertain": "20%", "Live accuracy": "—"}
    assert at.dataframe[0].value["class"].tolist() == ["ham", "spam"]
    assert any("dataset's files are missing" in c.value for c in at.caption)  # no training mix to compare with

    save_feedback("a" * 32, 0, "ham")  # right
    save_feedback("a" * 32, 1, "ham")  # wrong: the answer was spam
    at.run()
    assert at.metric[4].value == "50%"
    assert any(c.value.startswith("Live accuracy rests on 2 answers with a true label sent back (95% interval")
               for c in at.caption)


def test_feedback_goes_on_every_run_of_the_answer_and_live_accuracy_counts_it():
    run_id = finished_run()
    log_some(run_id)
    assert live_accuracy(logged_answers(run_id)) is None
    found = answered_request("a" * 32)
    assert (found.run_id, found.labels, found.answers) == (run_id, ["ham", "spam"], 2)
    assert answered_request("z" * 32) is None
    assert save_feedback("a" * 32, 1, "ham") == ("spam", False)
    assert save_feedback("a" * 32, 1, "spam") == ("spam", True)
    assert save_feedback("d" * 32, 0, "ham") == ("spam", False)
    seen = live_accuracy(logged_answers(run_id))
    assert (seen.correct, seen.labelled, seen.interval) == (1, 2, accuracy_interval(1, 2))


def test_drift_is_the_share_of_answers_that_would_have_to_change_class(tmp_path):
    (tmp_path / "examples.csv").write_text("input,label,split,source\n" + "".join(
        f"t{i},{label},{split},{i}\n" for i, (label, split) in enumerate(
            [("ham", "train")] * 3 + [("spam", "train")] + [("spam", "test")] * 5)))
    training = training_mix(tmp_path)  # the training split only: 75% ham
    assert training.to_dict() == {"ham": 0.75, "spam": 0.25}
    answered = pd.DataFrame({"class": ["spam", "ham", "eggs"], "answers": [5, 4, 1], "share": [0.5, 0.4, 0.1]})
    found = drift(answered, training)
    assert found.score == pytest.approx(0.35)  # (|0.4-0.75| + |0.5-0.25| + |0.1-0|) / 2
    assert found.mix["class"].tolist() == ["ham", "spam", "eggs"]
    assert found.sentence().startswith("35% of the answers would have to change class")
    assert drift(answered.assign(share=[0.25, 0.75, 0.0]), training).score == pytest.approx(0.0)


def test_champion_and_challenger_compare_by_run_with_agreement_on_shadowed_answers():
    champion, challenger = finished_run(), finished_run()
    log_answers("s1" + "0" * 30, 1, champion, 10.0, [("ham", 0.9, False), ("spam", 0.9, False)], endpoint="e",
                role="champion")
    log_answers("s1" + "0" * 30, 1, challenger, 30.0, [("ham", 0.8, False), ("ham", 0.6, True)], endpoint="e",
                role="challenger", shadow=True)
    log_answers("s2" + "0" * 30, 1, challenger, 20.0, [("spam", 0.7, False)], endpoint="e", role="challenger")
    save_feedback("s1" + "0" * 30, 1, "ham")
    from storage.api_log import endpoint_answers

    seen = compare(endpoint_answers("e"), {champion: "champion", challenger: "challenger"})
    assert (seen.shadowed, seen.agreement) == (2, 0.5)
    champ, chall = seen.runs
    assert (champ.role, champ.requests, chall.role, chall.requests) == ("champion", 1, "challenger", 2)
    assert champ.accuracy.correct == 0 and chall.accuracy.correct == 1
    assert chall.p50_ms == pytest.approx(25.0)
    assert seen.table()["answers with feedback"].tolist() == [1, 1]
    assert compare(endpoint_answers("nothing"), {champion: "champion", challenger: "challenger"}).agreement is None


def endpoint_table(at) -> pd.DataFrame:
    (table,) = [d.value for d in at.dataframe if "role" in d.value.columns]
    return table


@pytest.mark.slow  # AppTest runs app.py and the page: seconds
def test_the_monitor_page_compares_champion_and_challenger_and_promotes_in_one_click():
    from streamlit.testing.v1 import AppTest

    from storage.endpoints import get_endpoint, save_endpoint

    champion, challenger = finished_run(), finished_run()
    save_endpoint("spam_filter", champion, challenger, "shadow")
    log_answers("s" * 32, 1, champion, 10.0, [("ham", 0.9, False)], endpoint="spam_filter", role="champion")
    log_answers("s" * 32, 1, challenger, 30.0, [("spam", 0.8, False)], endpoint="spam_filter", role="challenger",
                shadow=True)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    at.switch_page("pages/monitor.py").run()
    assert not at.exception
    table = endpoint_table(at)
    assert table[["role", "run"]].values.tolist() == [["champion", f"#{champion}"], ["challenger", f"#{challenger}"]]
    assert {m.label: m.value for m in at.metric}["Agreement"] == "0%"
    at.button(key="monitor_promote").click().run()
    assert not at.exception
    assert get_endpoint("spam_filter").champion_run_id == challenger
    assert "is now the champion of **spam\\_filter**" in at.success[0].value  # the name shown escaped
    table = endpoint_table(at)
    assert table[["role", "run"]].values.tolist() == [["champion", f"#{challenger}"], ["challenger", f"#{champion}"]]
