"""The Results page against real finished runs (tiny models trained through `python -m core train`).

Expected numbers are recomputed here with scikit-learn from the stored per-example predictions, so the
page, the stored metrics and the predictions must all agree.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support
from streamlit.testing.v1 import AppTest

from storage.paths import data_home
from storage.runs import get_run, predictions
from tests.conftest import ROOT
from tests.finished_runs import image_run, text_run, use_run


def open_results(run_id: int | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    if run_id is not None:
        at.query_params["run"] = str(run_id)
    at.run()
    at.switch_page("pages/results.py").run()
    assert not at.exception
    return at


def stored_rows(run_id: int, split: str = "test") -> tuple[dict, pd.DataFrame]:
    """The run's stored metrics and its prediction rows on `split` (as the job store returns them), plus the
    examples."""
    run = get_run(run_id)
    rows = pd.DataFrame([{"example_index": p.example_index, "true": p.true_label, "predicted": p.predicted_label,
                          "confidence": p.confidence, "probabilities": p.probabilities}
                         for p in predictions(run_id, split)])
    examples = pd.read_csv(data_home() / run.dataset.path / "examples.csv", dtype=str, keep_default_na=False)
    rows["input"] = examples.loc[rows["example_index"], "input"].to_numpy()
    return run.metrics, rows


def metric(at: AppTest, label: str):
    return next(m for m in at.metric if m.label == label)


def tab(at: AppTest, label: str):
    return next(t for t in at.tabs if t.label == label)


def table(block, *columns: str) -> pd.DataFrame:
    """The first table in `block` (the app or a tab) with these columns (read-only tables carry no key in AppTest)."""
    return next(d.value for d in block.dataframe if set(columns) <= set(d.value.columns))


@pytest.mark.slow  # a finished run (tests/finished_runs.py: a CLI process)
def test_numbers_equal_the_stored_metrics_and_the_stored_predictions(tuneboard_home):
    trained = text_run()
    run_id = use_run(trained, tuneboard_home)
    metrics, rows = stored_rows(run_id)
    labels = metrics["confusion_matrix"]["labels"]
    # Recomputed independently from the per-example rows.
    accuracy = accuracy_score(rows["true"], rows["predicted"])
    macro_f1 = f1_score(rows["true"], rows["predicted"], labels=labels, average="macro", zero_division=0)
    precision, recall, f1, support = precision_recall_fscore_support(rows["true"], rows["predicted"], labels=labels,
                                                                     zero_division=0)
    assert metrics["accuracy"] == pytest.approx(accuracy) and metrics["macro_f1"] == pytest.approx(macro_f1)
    assert metrics["confusion_matrix"]["matrix"] == confusion_matrix(rows["true"], rows["predicted"], labels=labels).tolist()
    assert trained.result["metrics"]["accuracy"] == metrics["accuracy"]  # what the CLI printed is what was stored

    at = open_results()
    assert metric(at, "Accuracy").value == f"{accuracy:.1%}"
    assert metric(at, "Macro-F1").value == f"{macro_f1:.1%}"
    assert any(f"recomputing from the {len(rows)} stored test predictions gives the same" in c.value for c in at.caption)
    per_class = table(at, "class", "precision", "recall", "f1", "support")
    assert per_class["class"].tolist() == labels
    np.testing.assert_allclose(per_class[["precision", "recall", "f1"]].to_numpy(float),
                               100 * np.column_stack([precision, recall, f1]))  # shown as percentages
    assert per_class["support"].tolist() == support.tolist()
    # The untuned baselines, and the difference tuning made.
    majority, zero_shot = metrics["baselines"]["majority"], metrics["baselines"].get("zero_shot")
    baselines = table(at, "model", "accuracy", "macro_f1").set_index("model")  # as percentages, like the cards
    assert baselines.loc["This run", "accuracy"] == pytest.approx(100 * accuracy)
    assert baselines.loc["Always the most common class", "macro_f1"] == pytest.approx(100 * majority["macro_f1"])
    reference = zero_shot or majority
    assert metric(at, "Accuracy").delta == f"{(accuracy - reference['accuracy']) * 100:+.1f} points"
    assert metric(at, "Macro-F1").delta == f"{(macro_f1 - reference['macro_f1']) * 100:+.1f} points"


@pytest.mark.slow  # a finished run (tests/finished_runs.py: a CLI process)
def test_picking_a_confusion_cell_lists_its_test_examples(tuneboard_home):
    run_id = use_run(text_run(), tuneboard_home)
    metrics, rows = stored_rows(run_id)
    labels, matrix = metrics["confusion_matrix"]["labels"], metrics["confusion_matrix"]["matrix"]
    at = open_results()
    for true_index, true_label in enumerate(labels):
        for predicted_index, predicted in enumerate(labels):
            at.selectbox(key=f"results_cell_true_{run_id}").set_value(true_label)
            at.selectbox(key=f"results_cell_pred_{run_id}").set_value(predicted).run()
            assert not at.exception
            count = matrix[true_index][predicted_index]
            one = count == 1
            said = (f"**{count} test example{'' if one else 's'}** {'is' if one else 'are'} `{true_label}` and "
                    f"{'was' if one else 'were'} predicted `{predicted}`")
            assert any(m.value.startswith(said) for m in at.markdown)
            expected = rows[(rows["true"] == true_label) & (rows["predicted"] == predicted)]
            if count:
                shown = table(tab(at, "Overview"), "text", "true", "predicted")
                assert sorted(shown["text"]) == sorted(expected["input"])
                assert shown["confidence"].is_monotonic_decreasing
    at.radio(key="results_matrix_mode").set_value("Share of each true class").run()
    assert not at.exception


@pytest.mark.slow  # a finished run (tests/finished_runs.py: a CLI process)
def test_error_browser_shows_mistakes_and_unsure_examples(tuneboard_home):
    run_id = use_run(text_run(), tuneboard_home)
    _, rows = stored_rows(run_id)
    wrong = rows[rows["true"] != rows["predicted"]]
    at = open_results()
    assert any(m.value.startswith(f"**{len(wrong)} of {len(rows)}** test examples are misclassified") for m in at.markdown)
    assert 0 < len(wrong) <= 50  # a 1-epoch random-weights model gets some wrong; the page lists up to 50
    shown = table(tab(at, "Errors"), "text", "true", "predicted")
    assert sorted(shown["text"]) == sorted(wrong["input"])
    assert (shown["true"] != shown["predicted"]).all() and shown["confidence"].is_monotonic_decreasing
    at.radio(key="results_error_view").set_value("Least confident")
    at.slider(key="results_error_limit").set_value(5).run()
    unsure = table(tab(at, "Errors"), "text", "true", "predicted")
    # No temperature on this small run (too few validation examples): the stored confidences, to their rounding.
    assert unsure["confidence"].tolist() == pytest.approx(sorted(rows["confidence"])[:5], abs=1e-7)


@pytest.mark.slow  # a finished run (tests/finished_runs.py: a CLI process)
def test_threshold_is_chosen_on_validation_with_test_beside_and_is_saved(tuneboard_home):
    run_id = use_run(text_run(), tuneboard_home)
    metrics, rows = stored_rows(run_id)
    _, val_rows = stored_rows(run_id, "val")
    assert len(val_rows) > 0
    assert get_run(run_id).calibration["note"]  # too few validation examples to fit a temperature: T = 1
    labels = metrics["confusion_matrix"]["labels"]
    at = open_results()
    # The positive class defaults to the rarer one among the validation examples (on a tie, the second label).
    counts = val_rows["true"].value_counts()
    rarer = labels[0] if counts.get(labels[0], 0) < counts.get(labels[1], 0) else labels[1]
    assert at.selectbox(key=f"results_positive_{run_id}").value == rarer
    column = labels.index(rarer)

    def expected(frame: pd.DataFrame, threshold: float) -> tuple[str, str]:
        p_positive = np.array([p[column] for p in frame["probabilities"]])
        called, is_positive = p_positive >= threshold, (frame["true"] == rarer).to_numpy()
        tp = int((called & is_positive).sum())
        return f"{tp / max(1, int(called.sum())):.1%}", f"{tp / max(1, int(is_positive.sum())):.1%}"

    for threshold in (0.3, 0.7):
        at.slider(key=f"results_threshold_{run_id}_{rarer}").set_value(threshold).run()
        precision = [m.value for m in tab(at, "Confidence").metric if m.label == f"Precision ({rarer})"]
        recall = [m.value for m in tab(at, "Confidence").metric if m.label == f"Recall ({rarer})"]
        # First the validation figures (where the threshold is chosen), then the test figures beside them.
        assert list(zip(precision, recall)) == [expected(val_rows, threshold), expected(rows, threshold)]
    at.button(key=f"results_save_threshold_{run_id}").click().run()
    assert not at.exception
    assert at.success[0].value == f"Saved: {rarer} when P({rarer}) ≥ 0.70."
    stored = get_run(run_id).threshold  # kept on P(labels[1]) whichever class the user looked from
    assert stored == pytest.approx(0.7 if rarer == labels[1] else 0.3)
    assert any("Saved threshold: 0.70 on P(" in c.value for c in at.caption)


@pytest.mark.slow  # a finished run (tests/finished_runs.py: a CLI process)
def test_compare_lists_the_run_with_its_baselines(tuneboard_home):
    run_id = use_run(text_run(), tuneboard_home)
    metrics, _ = stored_rows(run_id)
    at = open_results()
    compared = table(at, "run", "macro-F1")
    run_row = compared[compared["run"].str.startswith(f"#{run_id} ")].iloc[0]
    assert run_row["accuracy"] == pytest.approx(100 * metrics["accuracy"]) and bool(run_row["best"])  # percentages
    assert (run_row["model"], run_row["method"]) == ("tiny-bert", "full")
    assert run_row["trainable parameters"] == get_run(run_id).trainable_params
    majority = compared[compared["run"] == "Always the most common class"].iloc[0]
    assert majority["macro-F1"] == pytest.approx(100 * metrics["baselines"]["majority"]["macro_f1"])
    assert majority["trainable parameters"] == 0


@pytest.mark.slow  # a finished run (tests/finished_runs.py: a CLI process)
def test_image_errors_show_thumbnails_with_true_and_predicted(tuneboard_home):
    run_id = use_run(image_run(), tuneboard_home)
    _, rows = stored_rows(run_id)
    at = open_results(run_id)
    assert at.selectbox(key="results_run").value == run_id
    at.radio(key="results_error_view").set_value("Least confident").run()
    captions = [image.proto.imgs[0].caption for image in at.get("image")]
    least = rows.sort_values("confidence", kind="stable").iloc[0]
    assert f"true {least['true']} · predicted {least['predicted']} · {least['confidence']:.0%}" in captions
    assert not at.exception


def test_without_a_finished_run_the_page_says_where_to_go():
    at = open_results()
    assert "No finished run yet" in at.info[0].value


@pytest.mark.slow  # a finished run (tests/finished_runs.py: a CLI process)
def test_the_verdict_says_how_good_how_sure_and_whether_the_target_is_met(tuneboard_home):
    from scipy.stats import binomtest

    run_id = use_run(text_run(), tuneboard_home)
    metrics, rows = stored_rows(run_id)
    at = open_results(run_id)
    verdict = next(m.value for m in at.markdown if m.value.startswith("**How good.**"))
    right, total = int((rows["true"] == rows["predicted"]).sum()), len(rows)
    interval = binomtest(right, total).proportion_ci(method="wilson")
    assert f"Accuracy {right / total:.1%} (95% interval {interval.low:.1%} to {interval.high:.1%})" in verdict
    assert f"on {total:,} test examples" in verdict
    assert "fewer than 30 test examples" in verdict  # the finished run's test set is small: said plainly
    assert "**Better than always answering `ham`?**" in verdict

    dataset_id = get_run(run_id).dataset_id
    at.selectbox(key=f"results_target_kind_{dataset_id}").set_value(1).run()  # accuracy
    at.slider(key=f"results_target_value_{dataset_id}").set_value(0.5).run()
    verdict = next(m.value for m in at.markdown if m.value.startswith("**How good.**"))
    status = "Pass" if interval.low >= 0.5 else "Not yet" if interval.high < 0.5 else "Can't tell yet"
    assert f"**Target: accuracy at least 50%.**" in verdict and status in verdict
    # Kept with the dataset: a new visit (a new browser session) is judged against the same target.
    assert get_run(run_id).dataset.target == {"metric": "accuracy", "value": 0.5, "label": None}
    again = open_results(run_id)
    assert "**Target: accuracy at least 50%.**" in next(m.value for m in again.markdown
                                                         if m.value.startswith("**How good.**"))


@pytest.mark.slow  # a finished run (tests/finished_runs.py: a CLI process)
def test_a_run_stored_without_validation_predictions_is_re_evaluated_without_retraining(tuneboard_home):
    from sqlalchemy import delete, update

    from storage.db import session_factory
    from storage.models import Prediction, Run

    run_id = use_run(text_run(), tuneboard_home)
    _, trained_val = stored_rows(run_id, "val")
    with session_factory().begin() as s:  # as a run stored before validation predictions were kept
        s.execute(delete(Prediction).where(Prediction.run_id == run_id, Prediction.split == "val"))
        s.execute(update(Run).where(Run.id == run_id).values(calibration={}))
    model_files = {p: p.stat().st_mtime_ns for p in (data_home() / get_run(run_id).artifact_dir).rglob("*")
                   if p.is_file()}
    at = open_results(run_id)
    confidence = tab(at, "Confidence")
    assert "stored before Tuneboard kept validation predictions" in confidence.info[0].value
    assert any("no validation predictions" in m.value for m in at.markdown)  # the verdict says so too
    at.button(key=f"results_reevaluate_{run_id}").click().run()
    assert not at.exception
    _, val = stored_rows(run_id, "val")
    assert val["example_index"].tolist() == trained_val["example_index"].tolist()
    np.testing.assert_allclose(np.stack(val["probabilities"]), np.stack(trained_val["probabilities"]), atol=1e-5)
    assert get_run(run_id).calibration["validation_examples"] == len(val)
    assert {p: p.stat().st_mtime_ns for p in model_files} == model_files  # the model was read, not retrained
    assert not tab(at, "Confidence").info  # the offer is gone; the choices are there
    assert at.slider(key=f"results_needed_accuracy_{run_id}") is not None


@pytest.mark.slow  # a finished run (tests/finished_runs.py: a CLI process), and its features extracted
def test_would_more_data_help_draws_the_curve_on_request_and_says_when_validation_is_too_small(tuneboard_home):
    run_id = use_run(text_run(), tuneboard_home)
    at = open_results(run_id)
    overview = tab(at, "Overview")
    assert any(s.value == "Would more data help?" for s in overview.subheader)
    at.button(key=f"results_more_data_go_{run_id}").click().run()
    assert not at.exception
    # 16 validation examples: too few to tell the points of a curve apart, and the page says so.
    assert any("validation examples: at least 20 are needed" in c.value for c in tab(at, "Overview").caption)
