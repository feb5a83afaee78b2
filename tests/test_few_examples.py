"""Few examples per class (issue 27): the few-shot method's pairs, cross-validation's folds, the Train page's advice
and the verdict's word on wide intervals; slow: the method learns and its run saves, reloads and predicts, a
cross-validated run, and a new user's path with 10 examples per class."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.evaluation import few_examples
from core.evaluation.verdict import Interval, Verdict
from core.evaluation.verdict_text import verdict_lines
from core.methods.fewshot import MAX_PAIRS, make_pairs, pair_count
from core.models.text_inputs import Split
from core.run_config import RunConfig
from core.training.cross_validation import assign_folds, folds_for
from core.training.data import TrainingDataError


def test_pairs_are_half_same_class_half_different_and_name_the_right_targets():
    labels = np.array([0] * 8 + [1] * 8 + [2] * 8)
    pairs = make_pairs(labels, 300, seed=3)
    assert len(pairs) == 300 and pairs == make_pairs(labels, 300, seed=3)
    assert all((labels[i] == labels[j]) == (target == 1.0) and i != j for i, j, target in pairs)
    same = sum(target for _, _, target in pairs)
    assert abs(same - 150) <= 2
    assert Counter(i for i, _, _ in pairs).most_common()[-1][1] >= 5  # every example is an anchor several times


def test_pairs_are_capped_by_the_preset():
    assert pair_count(16, "quick") == min(640, MAX_PAIRS["quick"])
    assert pair_count(416, "best") == MAX_PAIRS["best"]


def test_a_class_with_one_example_still_gets_different_pairs():
    labels = np.array([0, 1, 1, 1])
    pairs = make_pairs(labels, 40, seed=0)
    assert any(0 in (i, j) for i, j, _ in pairs) and all(t == 0.0 for i, j, t in pairs if 0 in (i, j))


def _splits(counts: dict[int, int]) -> dict[str, Split]:
    labels = np.array([c for c, n in counts.items() for _ in range(n)])
    everything = Split(list(range(len(labels))), [f"t{i}" for i in range(len(labels))], labels)
    empty = Split([], [], np.zeros(0, dtype=np.int64))
    return {"train": everything, "val": empty, "test": empty}


def test_folds_are_stratified_and_capped_by_the_smallest_class():
    labels = np.array([0] * 10 + [1] * 10 + [2] * 4)
    folds = assign_folds(labels, 4, seed=1)
    for k in range(4):
        assert set(labels[folds == k]) == {0, 1, 2}  # every fold scores every class
    assert folds_for(RunConfig(cross_validation_folds=5), _splits({0: 10, 1: 3})) == 3
    assert folds_for(RunConfig(), _splits({0: 10, 1: 3})) == 0
    with pytest.raises(TrainingDataError, match="at least 2 folds"):
        folds_for(RunConfig(cross_validation_folds=1), _splits({0: 10, 1: 10}))
    with pytest.raises(TrainingDataError, match="at least 2 examples of every class"):
        folds_for(RunConfig(cross_validation_folds=5), _splits({0: 10, 1: 1}))


def test_the_advice_recommends_what_scored_best_at_the_nearest_measured_size(monkeypatch):
    assert few_examples.MEASURED, "the measured figures (bench/fewshot.py) are missing"
    found = few_examples.advice(Counter({"a": 10, "b": 30}), "text")
    assert found is not None and (found.smallest_class, found.smallest_count) == ("a", 10)
    assert not found.many_classes  # two classes: judged on the two-class figures (SMS spam)
    figures = few_examples.MEASURED[found.measured_size]
    assert found.recommended == max(figures, key=lambda key: figures[key][0]) == found.expectations[0].method
    # measured: on 26 classes with 8 examples each, no training (zero-shot) scored above every method; it is said
    assert few_examples.advice(Counter({c: 8 for c in "abcdef"}), "text").zero_shot_leads
    assert not found.zero_shot_leads
    # the advice follows the figures, not a name: with other figures it recommends another method
    monkeypatch.setattr(few_examples, "MEASURED", {8: {"fewshot": (0.5, 0.1, 60.0, 90.0),
                                                       "head": (0.9, 0.3, 5.0, 9.0)}})
    assert few_examples.advice(Counter({"a": 9, "b": 9}), "text").recommended == "head"
    # many classes go by the many-class figures: there few-shot leads although head only leads on two classes
    monkeypatch.setattr(few_examples, "MEASURED", {8: {"fewshot": (0.5, 0.4, 60.0, 90.0),
                                                       "head": (0.9, 0.3, 5.0, 9.0)}})
    many = few_examples.advice(Counter({c: 9 for c in "abcdef"}), "text")
    assert many.many_classes and many.recommended == "fewshot" and many.expectations[0].seconds == 90.0
    # two within TIE score alike: the faster is recommended
    monkeypatch.setattr(few_examples, "MEASURED", {8: {"fewshot": (0.895, 0.3, 60.0, 90.0),
                                                       "head": (0.89, 0.3, 5.0, 9.0)}})
    assert few_examples.advice(Counter({"a": 9, "b": 9}), "text").recommended == "head"
    # a method not measured on data like the user's comes after those that were
    monkeypatch.setattr(few_examples, "MEASURED", {8: {"fewshot": (None, 0.3, None, 90.0),
                                                       "head": (0.6, 0.2, 5.0, 9.0)}})
    found = few_examples.advice(Counter({"a": 9, "b": 9}), "text")
    assert [e.method for e in found.expectations] == ["head", "fewshot"]
    assert few_examples.advice(Counter({"a": 20, "b": 25}), "text") is None  # enough examples
    # one rare class among large ones is not few-example data
    assert few_examples.advice(Counter({"a": 8, "b": 40, "c": 60}), "text") is None
    assert few_examples.advice(Counter({"a": 5, "b": 5}), "image") is None  # measured on text only


def _verdict(n: int) -> Verdict:
    return Verdict(accuracy=Interval(0.8, 0.8 - 200 / n / 100, min(1.0, 0.8 + 200 / n / 100)),
                   macro_f1=Interval(0.78, 0.6, 0.9), test_examples=n)


def test_the_verdict_says_why_the_interval_is_wide_on_a_small_test_set():
    titles = lambda lines: ["".join(map(str, line.title)) for line in lines]  # noqa: E731
    small = verdict_lines(_verdict(20), ["a", "b"], "a")
    assert "Why the range is wide." in titles(small)
    body = "".join(map(str, small[titles(small).index("Why the range is wide.")].body))
    assert "20 test examples" in body and "5.0%" in body
    assert "Why the range is wide." not in titles(verdict_lines(_verdict(500), ["a", "b"], "a"))
    cross = verdict_lines(_verdict(40), ["a", "b"], "a", {"folds": 5, "examples": 40})
    assert "5-fold cross-validation over all 40 labelled examples" in "".join(map(str, cross[0].body))


# --- slow: real training ---------------------------------------------------------------------------------------

TOPICS = {
    "billing": "invoice charge refund payment bill card price paid",
    "delivery": "parcel courier shipping arrived late package tracking delivery",
    "login": "password login account locked reset sign username",
    "praise": "thanks great wonderful love excellent happy helpful",
}


def write_topics(folder: Path, per_class: int, test_per_class: int, seed: int = 0) -> Path:
    """Short texts of four topics told apart by their words: per_class to train, test_per_class to test."""
    rng = np.random.default_rng(seed)
    rows = []
    for label, words in TOPICS.items():
        for i in range(per_class + test_per_class):
            text = " ".join(rng.choice(words.split(), size=int(rng.integers(3, 7))))
            rows.append({"input": f"{text} please", "label": label,
                         "split": "train" if i < per_class else "test", "source": str(len(rows))})
    folder.mkdir(parents=True)
    pd.DataFrame(rows).to_csv(folder / "examples.csv", index=False)
    return folder


@pytest.mark.slow
def test_the_few_shot_method_learns_from_8_examples_per_class_and_its_run_saves_reloads_and_predicts(tmp_path):
    from core.serving.inference import load_predictor
    from core.training import train_run
    from tests.test_methods_train import Recorder

    labels = sorted(TOPICS)
    data = write_topics(tmp_path / "data", per_class=8, test_per_class=10)
    reporter = Recorder()
    result = train_run(data, labels, "text", RunConfig(model="minilm", method="fewshot", preset="quick", seed=0,
                                                       max_length=16), tmp_path / "run", reporter)
    majority = result.metrics["baselines"]["majority"]["macro_f1"]
    assert result.metrics["macro_f1"] >= majority + 0.2, (result.metrics["macro_f1"], majority)
    assert any("pairs" in line for line in reporter.lines)  # the contrastive stage ran

    predictor = load_predictor(tmp_path / "run")
    assert predictor.info["method"] == "fewshot"
    texts = [p for p in pd.read_csv(data / "examples.csv").query("split == 'test'")["input"]]
    again = predictor.predict_proba(texts)
    stored = np.array([p["probabilities"] for p in result.predictions])
    assert np.abs(again - stored).max() < 1e-4  # the reloaded model answers as the trained one did


@pytest.mark.slow
def test_a_cross_validated_run_scores_every_example_and_saves_a_model_trained_on_all(tmp_path):
    from core.serving.inference import load_predictor
    from core.training import train_run
    from tests.test_methods_train import Recorder

    labels = sorted(TOPICS)
    data = write_topics(tmp_path / "data", per_class=8, test_per_class=2)
    reporter = Recorder()
    result = train_run(data, labels, "text", RunConfig(model="tiny-bert", method="head", preset="quick", seed=0,
                                                       max_length=16, cross_validation_folds=5), tmp_path / "run",
                       reporter)
    assert result.metrics["cross_validation"] == {"folds": 5, "examples": 40}
    assert sorted(p["example_index"] for p in result.predictions) == list(range(40))  # each scored once
    assert result.validation_predictions == []
    assert sum(line.startswith("Fold ") for line in reporter.lines) == 5
    assert any("training on all 40 examples" in line for line in reporter.lines)
    assert not any((tmp_path / "run").glob("fold-*"))
    assert len(load_predictor(tmp_path / "run").predict(["refund my card"])) == 1


@pytest.mark.slow  # trains 5 folds and the final model (tiny model) through the worker's own code
def test_a_new_user_with_10_examples_per_class_follows_the_advice_and_reads_a_cross_validated_estimate(tmp_path):
    from streamlit.testing.v1 import AppTest

    from core.datasets.store import register_path
    from core.jobs.runner import execute_run
    from storage import run_queue
    from storage.processes import process_identity
    from storage.runs import list_runs
    from tests.conftest import ROOT

    # 1) the CSV a pilot starts with: 10 labelled texts per class, stored as the Data page stores an upload
    rng = np.random.default_rng(5)
    rows = [{"message": " ".join(rng.choice(words.split(), size=5)), "category": label}
            for label, words in TOPICS.items() for _ in range(10)]
    pd.DataFrame(rows).to_csv(tmp_path / "tickets.csv", index=False)
    register_path(tmp_path / "tickets.csv", name="tickets")

    # 2) Train: the page says what to expect and recommends a method with cross-validation; the user keeps both
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.session_state["train_model_text"] = "other"
    at.session_state["train_model_other"] = "tiny-bert"  # seconds instead of minutes; the advice is the same
    at.run()
    at.switch_page("pages/train.py").run()
    assert not at.exception
    advice = next(i.value for i in at.info if "Few examples" in i.value)
    expected = few_examples.advice(Counter({label: 10 for label in TOPICS}), "text")
    assert f"has only 10 labelled examples" in advice and "Recommended:" in advice
    for row in expected.expectations:
        assert f"| {row.name} | {row.two_class_f1:.2f} |" in advice
    assert at.radio(key="train_method_text").value == expected.recommended
    assert at.number_input(key="train_adv_cross_validation_folds").value == 5
    at.number_input(key="train_adv_max_length").set_value(16)
    at.run()
    at.button(key="train_launch").click().run()
    assert not at.exception
    [run] = list_runs()
    assert (run.config["method"], run.config["cross_validation_folds"]) == (expected.recommended, 5)

    # 3) the worker trains it
    worker = process_identity()
    assert run_queue.claim_next(worker) == (run.id, False)
    assert execute_run(run.id, worker).status == "succeeded"

    # 4) Results: the estimate over all 40 examples, and why its interval is wide
    at.query_params["run"] = str(run.id)
    at.switch_page("pages/results.py").run()
    assert not at.exception
    verdict = " ".join(m.value for m in at.markdown)
    assert "5-fold cross-validation over all 40 labelled examples" in verdict
    assert "Why the range is wide." in verdict and "40 test examples" in verdict
