"""Results computed from stored predictions: threshold, error browser, histogram, comparison, data access."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.evaluation import compare

from core.evaluation import results

from core.evaluation import threshold
from core.evaluation.decision import DecisionRule
from storage import results as stored
from storage.db import session_factory
from storage.models import FAILED, SUCCEEDED, Dataset, MetricPoint, Prediction, Run

LABELS = ["ham", "spam"]


def decide(probabilities: dict[str, float], labels: list[str], stored: float | None) -> str:
    """The answer the run's decision rule gives with this stored threshold (no temperature, no operating point)."""
    return DecisionRule(tuple(labels), threshold=stored).decide_one(probabilities)[0]


def predictions_frame(rows: list[tuple[str, str, float]]) -> pd.DataFrame:
    """(true, P(ham), P(spam)) per example -> a predictions frame as storage returns it (argmax prediction)."""
    records = []
    for i, (true, p_ham, p_spam) in enumerate(rows):
        predicted = "ham" if p_ham >= p_spam else "spam"
        records.append({"example_index": i, "true_label": true, "predicted_label": predicted,
                        "confidence": max(p_ham, p_spam), "probabilities": [p_ham, p_spam]})
    return pd.DataFrame(records, columns=results.PREDICTION_COLUMNS)


SMALL = predictions_frame([
    ("ham", 0.9, 0.1), ("ham", 0.8, 0.2), ("ham", 0.4, 0.6), ("ham", 0.7, 0.3),
    ("spam", 0.2, 0.8), ("spam", 0.65, 0.35), ("spam", 0.45, 0.55),
])


# --- threshold ---------------------------------------------------------------------------------------


def test_positive_class_is_the_minority_unless_chosen():
    assert threshold.positive_class(LABELS, ["ham", "ham", "spam"]) == "spam"
    assert threshold.positive_class(LABELS, ["spam", "spam", "ham"]) == "ham"
    assert threshold.positive_class(LABELS, ["spam", "spam", "ham"], chosen="spam") == "spam"
    with pytest.raises(ValueError, match="not one of the classes"):
        threshold.positive_class(LABELS, ["ham"], chosen="eggs")


def test_stored_threshold_means_the_same_decision_from_either_class():
    for p_spam in (0.1, 0.35, 0.6, 0.9):
        probs = {"ham": 1 - p_spam, "spam": p_spam}
        stored_from_spam = threshold.to_stored(0.3, "spam", LABELS)  # spam when P(spam) >= 0.3
        stored_from_ham = threshold.to_stored(0.7, "ham", LABELS)  # ham when P(ham) >= 0.7, i.e. P(spam) <= 0.3
        assert decide(probs, LABELS, stored_from_spam) == ("spam" if p_spam >= 0.3 else "ham")
        assert decide(probs, LABELS, stored_from_ham) == ("ham" if 1 - p_spam >= 0.7 else "spam")
    assert threshold.from_stored(threshold.to_stored(0.7, "ham", LABELS), "ham", LABELS) == pytest.approx(0.7)
    assert threshold.from_stored(None, "ham", LABELS) == 0.5


def test_without_a_threshold_the_most_probable_class_wins():
    assert decide({"a": 0.2, "b": 0.5, "c": 0.3}, ["a", "b", "c"], None) == "b"
    assert decide({"a": 0.2, "b": 0.5, "c": 0.3}, ["a", "b", "c"], 0.9) == "b"  # three classes: no threshold
    assert decide({"ham": 0.6, "spam": 0.4}, LABELS, None) == "ham"


def test_predict_at_moves_examples_across_the_threshold():
    probs = results.probability_matrix(SMALL, LABELS)
    assert threshold.predict_at(probs, LABELS, "spam", 0.5) == SMALL["predicted_label"].tolist()
    assert threshold.predict_at(probs, LABELS, "spam", 0.3) == ["ham", "ham", "spam", "spam", "spam", "spam", "spam"]
    assert threshold.predict_at(probs, LABELS, "spam", 0.99) == ["ham"] * 7


# --- error browser and histogram ---------------------------------------------------------------------


def test_row_normalized_divides_each_row_by_its_total():
    assert results.row_normalized([[3, 1], [0, 0], [1, 4]]) == [[0.75, 0.25], [0.0, 0.0], [0.2, 0.8]]


def test_error_browser_joins_examples_and_orders_by_confidence():
    examples = pd.DataFrame({"input": [f"text {i}" for i in range(7)], "label": [""] * 7, "split": ["test"] * 7,
                             "source": [f"row {i + 2}" for i in range(7)]})
    joined = results.with_examples(SMALL, examples)
    wrong = results.misclassified(joined)
    assert wrong["input"].tolist() == ["text 5", "text 2"]  # 0.65 then 0.6: the most confident mistake first
    assert not wrong["correct"].any()
    unsure = results.least_confident(joined, limit=3)
    assert unsure["confidence"].tolist() == [0.55, 0.6, 0.65]
    cell = results.cell_examples(joined, "spam", "ham")
    assert cell["source"].tolist() == ["row 7"]
    assert results.cell_examples(joined, "ham", "ham")["example_index"].tolist() == [0, 1, 3]


def test_confidence_histogram_counts_every_prediction_once():
    hist = results.confidence_histogram(SMALL, bins=10)
    assert hist["count"].sum() == len(SMALL)
    by_bin = hist[hist["count"] > 0].set_index(["bin_start", "outcome"])["count"]
    assert by_bin[(0.5, "correct")] == 1  # 0.55
    assert by_bin[(0.6, "wrong")] == 2  # 0.6 and 0.65
    assert by_bin[(0.9, "correct")] == 1  # 0.9 sits in the last bin
    ones = predictions_frame([("ham", 1.0, 0.0)])
    assert results.confidence_histogram(ones, bins=4).query("bin_start == 0.75 and outcome == 'correct'")["count"].item() == 1


def test_learning_curves_split_loss_from_validation():
    points = pd.DataFrame([
        {"step": 1, "epoch": 0.5, "name": "train_loss", "value": 0.7},
        {"step": 2, "epoch": 1.0, "name": "val_accuracy", "value": 0.6},
        {"step": 2, "epoch": 1.0, "name": "train_loss", "value": 0.5},
        {"step": 2, "epoch": 1.0, "name": "learning_rate", "value": 1e-4},
    ])
    curves = results.learning_curves(points)
    assert curves["loss"]["value"].tolist() == [0.7, 0.5]
    assert curves["validation"]["name"].tolist() == ["val_accuracy"]
    empty = results.learning_curves(pd.DataFrame(columns=["step", "epoch", "name", "value"]))
    assert empty["loss"].empty and empty["validation"].empty


# --- comparison --------------------------------------------------------------------------------------


def finished(id_, model, method, acc, f1, zero_shot=None, seed=42):
    metrics = {"accuracy": acc, "macro_f1": f1,
               "baselines": {"majority": {"accuracy": 0.86, "macro_f1": 0.46}, "zero_shot": zero_shot}}
    return stored.RunResult(id=id_, name="", status=SUCCEEDED, dataset_id=1, dataset_name="sms", task="text",
                            labels=LABELS, dataset_path="datasets/1",
                            config={"model": model, "method": method, "seed": seed},
                            metrics=metrics, train_seconds=10.0 * id_, trainable_params=1000 * id_,
                            size_bytes=2_000_000)


def test_comparison_lists_runs_and_distinct_baselines_and_marks_the_best_on_validation():
    run = finished
    zero_shot = {"accuracy": 0.5, "macro_f1": 0.4, "model": "all-MiniLM-L6-v2"}
    runs = [run(1, "minilm", "lora", 0.95, 0.90, zero_shot), run(2, "minilm", "full", 0.97, 0.93, zero_shot),
            run(3, "tiny-bert", "head", 0.90, 0.80, None)]
    # Run 2 is best on test, run 1 on validation: the best run is the validation winner; run 3 has no validation.
    table = compare.comparison_table(runs, {1: {"macro_f1": 0.91}, 2: {"macro_f1": 0.89}, 3: None})
    assert table["run"].tolist() == ["#1", "Always the most common class",
                                     "Untuned model, zero-shot (all-MiniLM-L6-v2)", "#2", "#3"]
    assert table.loc[table["best"], "run"].tolist() == ["#1"]
    assert table.loc[table["kind"] == "run", "val_macro_f1"].tolist()[:2] == [0.91, 0.89]
    assert not compare.comparison_table(runs, {})["best"].any()  # nothing to choose on: no best run
    assert table.loc[table["kind"] == "baseline", "macro_f1"].tolist() == [0.46, 0.4]
    assert table.loc[0, "size_mb"] == 2.0
    deltas = compare.baseline_deltas(run(2, "minilm", "full", 0.97, 0.93, None).metrics)
    assert deltas["majority"]["accuracy"] == pytest.approx(0.11)
    assert "zero_shot" not in deltas


def test_seed_spread_groups_runs_that_differ_only_by_seed():
    runs = [finished(1, "minilm", "lora", 0.9, 0.80, seed=42), finished(2, "minilm", "lora", 0.9, 0.86, seed=43),
            finished(3, "minilm", "lora", 0.9, 0.83, seed=44), finished(4, "minilm", "full", 0.9, 0.9, seed=42)]
    spread = compare.seed_spread(runs, {1: {"macro_f1": 0.8}, 2: {"macro_f1": 0.9}, 3: {"macro_f1": 0.85}})
    assert len(spread) == 1  # run 4 is a configuration trained once
    row = spread.iloc[0]
    assert (row["runs"], row["seeds"]) == ("#1, #2, #3", "42, 43, 44")
    assert row["macro_f1"] == pytest.approx(0.83) and (row["macro_f1_low"], row["macro_f1_high"]) == (0.80, 0.86)
    assert row["macro_f1_sd"] == pytest.approx(0.03)  # sample standard deviation of 0.80, 0.86, 0.83
    assert row["val_macro_f1"] == pytest.approx(0.85)


# --- data access -------------------------------------------------------------------------------------


def store_run(status: str = SUCCEEDED, labels=LABELS, dataset_id: int | None = None) -> int:
    with session_factory().begin() as s:
        if dataset_id is None:
            dataset = Dataset(name="sms", task="text", labels=list(labels), path="datasets/1")
            s.add(dataset)
            s.flush()
            dataset_id = dataset.id
        run = Run(dataset_id=dataset_id, status=status, config={"model": "tiny-bert", "method": "full"},
                  metrics={"accuracy": 0.5}, artifact_dir="runs/x")
        s.add(run)
        s.flush()
        for record in SMALL.to_dict("records")[::-1]:  # stored out of order on purpose
            s.add(Prediction(run_id=run.id, **record))
        s.add_all([MetricPoint(run_id=run.id, step=1, epoch=1.0, name="train_loss", value=0.9),
                   MetricPoint(run_id=run.id, step=1, epoch=1.0, name="val_accuracy", value=0.6)])
        return run.id


def test_stored_predictions_and_points_come_back_in_order(tuneboard_home):
    run_id = store_run()
    frame = stored.run_predictions(run_id)
    assert frame["example_index"].tolist() == list(range(7))
    assert frame["probabilities"].tolist() == SMALL["probabilities"].tolist()
    assert stored.metric_points(run_id)["name"].tolist() == ["train_loss", "val_accuracy"]
    result = stored.run_result(run_id)
    assert (result.model, result.method, result.labels) == ("tiny-bert", "full", LABELS)
    assert result.output_dir == tuneboard_home / "runs" / "x"
    assert stored.run_result(999) is None


def test_finished_runs_lists_succeeded_runs_newest_first():
    first = store_run()
    dataset_id = stored.run_result(first).dataset_id
    store_run(status=FAILED, dataset_id=dataset_id)
    third = store_run(dataset_id=dataset_id)
    other = store_run()
    assert [r.id for r in stored.finished_runs()] == [other, third, first]
    assert [r.id for r in stored.finished_runs(dataset_id)] == [third, first]


def test_threshold_is_saved_on_the_run_and_validated():
    run_id = store_run()
    stored.save_threshold(run_id, 0.3)
    assert stored.run_result(run_id).threshold == 0.3
    stored.save_threshold(run_id, None)
    assert stored.run_result(run_id).threshold is None
    with pytest.raises(ValueError, match="between 0 and 1"):
        stored.save_threshold(run_id, 1.5)
    with pytest.raises(LookupError):
        stored.save_threshold(12345, 0.5)


def test_confusion_figure_shows_counts_or_rates_and_one_clickable_point_per_cell():
    from pages.shared.charts import confusion_figure

    counts = confusion_figure(LABELS, [[3, 1], [0, 2]], normalized=False)
    heatmap, cells = counts.data
    assert [list(row) for row in heatmap.z] == [[3, 1], [0, 2]]
    assert list(zip(cells.y, cells.x)) == [("ham", "ham"), ("ham", "spam"), ("spam", "ham"), ("spam", "spam")]
    assert cells.hovertext[1] == "true ham → predicted spam<br>1 examples<br>25.0% of true ham"
    rates = confusion_figure(LABELS, [[3, 1], [0, 2]], normalized=True)
    assert [list(row) for row in rates.data[0].z] == [[0.75, 0.25], [0.0, 1.0]]
    assert [list(row) for row in rates.data[0].text] == [["75%", "25%"], ["0%", "100%"]]
    many = confusion_figure([f"c{i}" for i in range(60)], np.eye(60, dtype=int).tolist(), normalized=False)
    assert many.layout.height < 1000 and all(t == "" for row in many.data[0].text for t in row)


def test_repeating_a_run_with_more_seeds_queues_the_same_settings_with_unused_seeds(tuneboard_home):
    from storage.run_requests import repeat_with_seeds
    from storage.runs import get_run

    run_id = store_run()
    first = repeat_with_seeds(run_id)
    assert [get_run(i).config for i in first] == [{"model": "tiny-bert", "method": "full", "seed": s} for s in (43, 44)]
    assert {get_run(i).status for i in first} == {"queued"}
    # Asked again (from the run or from a repeat), the next seeds not used yet for these settings.
    again = repeat_with_seeds(first[0])
    assert [get_run(i).config["seed"] for i in again] == [45, 46]
