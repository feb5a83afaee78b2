"""No choice reads the test set: the operating point, the threshold's starting class and Compare's best run are
chosen from validation predictions, and the test predictions only report. Shown on the Results page itself:
rewriting the test predictions changes the reported test figures and none of the choices; rewriting the
validation predictions changes the choices (so this test can fail)."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import delete, insert
from streamlit.testing.v1 import AppTest

from storage.db import session_factory
from storage.models import SUCCEEDED, TEST, VALIDATION, Dataset, Prediction, Run
from storage.run_queue import prediction_rows
from tests.conftest import ROOT

LABELS = ["ham", "spam"]


def records(seed: int, n: int, skill: float, spam_share: float) -> list[dict]:
    """n two-class predictions: P(spam) leans towards the truth by `skill`, with noise."""
    rng = np.random.default_rng(seed)
    truth = (rng.random(n) < spam_share).astype(int)
    p_spam = np.clip(0.5 + skill * (truth - 0.5) * 2 * rng.random(n) + rng.normal(0, 0.15, n), 0.001, 0.999)
    return [{"example_index": i, "true_label": LABELS[t], "predicted_label": LABELS[int(p >= 0.5)],
             "confidence": float(max(p, 1 - p)), "probabilities": [float(1 - p), float(p)]}
            for i, (t, p) in enumerate(zip(truth, p_spam))]


def replace_predictions(run_id: int, split: str, rows: list[dict]) -> None:
    with session_factory().begin() as s:
        s.execute(delete(Prediction).where(Prediction.run_id == run_id, Prediction.split == split))
        s.execute(insert(Prediction), prediction_rows(run_id, split, rows))


def store_run(dataset_id: int, val: list[dict], test: list[dict]) -> int:
    from core.evaluation.results import evaluate

    metrics = evaluate([r["true_label"] for r in test], [r["predicted_label"] for r in test], LABELS)
    with session_factory().begin() as s:
        run = Run(dataset_id=dataset_id, status=SUCCEEDED, config={"model": "tiny-bert", "method": "full"},
                  metrics={**metrics, "baselines": {}}, artifact_dir="runs/none")
        s.add(run)
        s.flush()
        run_id = run.id
    replace_predictions(run_id, VALIDATION, val)
    replace_predictions(run_id, TEST, test)
    return run_id


def choices_and_report(run_id: int) -> tuple[tuple, str]:
    """(what the page chose, what it reported about the test set) for run `run_id`."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.query_params["run"] = str(run_id)
    at.run()
    at.switch_page("pages/results.py").run()
    assert not at.exception
    confidence = next(t for t in at.tabs if t.label == "Confidence")
    point = next(m.value for m in confidence.markdown if m.value.startswith("Answer when at least"))
    chosen_point, test_line = point.split("  \n")[0], point.split("  \n")[2]
    compare = next(d.value for d in at.dataframe if "validation macro-F1" in d.value.columns)
    best = compare.loc[compare["best"], "run"].tolist()
    positive = at.selectbox(key=f"results_positive_{run_id}").value
    return (chosen_point, best, positive), test_line


@pytest.mark.slow  # the Results page opened three times (AppTest): about 7 s
def test_no_choice_reads_the_test_predictions(tuneboard_home):
    with session_factory().begin() as s:
        dataset = Dataset(name="messages", task="text", labels=LABELS, path="datasets/none")
        s.add(dataset)
        s.flush()
        dataset_id = dataset.id
    # Run a is the better one on validation, run b on test.
    a = store_run(dataset_id, records(1, 300, 0.9, 0.3), records(2, 300, 0.5, 0.3))
    b = store_run(dataset_id, records(3, 300, 0.6, 0.3), records(4, 300, 0.95, 0.3))
    chosen, reported = choices_and_report(a)
    assert chosen[1] == [f"#{a}"] and chosen[2] == "spam"  # the validation winner; the rarer class in validation

    # New test predictions (a new test set where ham is the rarer class, and a different winner on it): the
    # reported test figures change, the choices do not.
    replace_predictions(a, TEST, records(5, 300, 0.3, 0.8))
    replace_predictions(b, TEST, records(6, 300, 0.2, 0.8))
    chosen_after, reported_after = choices_and_report(a)
    assert reported_after != reported
    assert chosen_after == chosen

    # New validation predictions do change them.
    replace_predictions(a, VALIDATION, records(7, 300, 0.3, 0.8))
    chosen_val, _ = choices_and_report(a)
    assert chosen_val[0] != chosen[0] and chosen_val[1] == [f"#{b}"] and chosen_val[2] == "ham"
