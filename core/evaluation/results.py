"""What the Results page shows, computed from a run's stored per-example test predictions.

A predictions frame has one row per test example with the columns of `storage.models.Prediction`:
example_index (row in the dataset's examples.csv), true_label, predicted_label, confidence and
probabilities (one per class, in dataset label order). Everything here is a pure function of that frame
(and the dataset's examples), so the numbers can be recomputed and checked against the stored metrics.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from core.evaluation.metrics import classification_metrics
from core.evaluation.threshold import predict_at
from core.evaluation.verdict import Target, Verdict, verdict

PREDICTION_COLUMNS = ["example_index", "true_label", "predicted_label", "confidence", "probabilities"]


def probability_matrix(predictions: pd.DataFrame, labels: Sequence[str]) -> np.ndarray:
    """(N examples, C classes) probabilities in dataset label order."""
    if predictions.empty:
        return np.zeros((0, len(labels)))
    return np.asarray(predictions["probabilities"].tolist(), dtype=float).reshape(len(predictions), len(labels))


def evaluate(true_labels: Sequence[str], predicted_labels: Sequence[str], labels: Sequence[str]) -> dict[str, Any]:
    """The same metrics dict training stores (accuracy, macro_*, weighted_*, per_class, confusion_matrix)."""
    index = {label: i for i, label in enumerate(labels)}
    return classification_metrics(np.array([index[t] for t in true_labels], dtype=np.int64),
                                  np.array([index[p] for p in predicted_labels], dtype=np.int64), list(labels))


def recompute_metrics(predictions: pd.DataFrame, labels: Sequence[str]) -> dict[str, Any]:
    """Test metrics recomputed from the stored predictions; they must equal the run's stored metrics."""
    return evaluate(predictions["true_label"].tolist(), predictions["predicted_label"].tolist(), labels)


def validation_metrics(val_predictions: pd.DataFrame, labels: Sequence[str]) -> dict[str, Any] | None:
    """The metrics of a run's stored validation predictions (what choices between runs are made on); None for a
    run stored before they were kept."""
    return None if val_predictions.empty else recompute_metrics(val_predictions, labels)


def run_verdict(predictions: pd.DataFrame, labels: Sequence[str], metrics: dict[str, Any],
                target: Target | None = None) -> Verdict:
    """The verdict on a run's stored test predictions (the most probable class, as the stored metrics), compared
    on the same examples with the baselines whose per-example answers are known (majority: one class for all)."""
    index = {label: i for i, label in enumerate(labels)}
    y_true = np.array([index[t] for t in predictions["true_label"]], dtype=np.int64)
    y_pred = np.array([index[p] for p in predictions["predicted_label"]], dtype=np.int64)
    baselines = {}
    majority = metrics.get("baselines", {}).get("majority", {}).get("predicted_label_id")
    if majority is not None:
        baselines["majority"] = np.full(len(y_true), int(majority))
    return verdict(y_true, y_pred, list(labels), baselines, target)


def row_normalized(matrix: Sequence[Sequence[float]]) -> list[list[float]]:
    """Each row divided by its total: the share of a true class that went to each predicted class (0 for empty rows)."""
    array = np.asarray(matrix, dtype=float)
    totals = array.sum(axis=1, keepdims=True)
    return np.divide(array, totals, out=np.zeros_like(array), where=totals > 0).tolist()


def per_class_table(metrics: dict[str, Any], labels: Sequence[str],
                    names: dict[str, str] | None = None) -> pd.DataFrame:
    """One row per class: precision, recall, F1, support (rows in dataset label order; classes shown by their
    display names where `names` gives one)."""
    per_class, names = metrics.get("per_class", {}), names or {}
    rows = [{"class": names.get(label, label), **{k: per_class.get(label, {}).get(k) for k in ("precision", "recall", "f1", "support")}}
            for label in labels]
    return pd.DataFrame(rows, columns=["class", "precision", "recall", "f1", "support"])


# --- Error browser ------------------------------------------------------------------------------------


def with_examples(predictions: pd.DataFrame, examples: pd.DataFrame) -> pd.DataFrame:
    """Predictions joined with their examples.csv rows: adds `input` (text or image path), `source` and `correct`."""
    joined = predictions.join(examples[["input", "source"]], on="example_index")
    joined["correct"] = joined["true_label"] == joined["predicted_label"]
    return joined


def cell_examples(joined: pd.DataFrame, true_label: str, predicted_label: str) -> pd.DataFrame:
    """The test examples in one confusion-matrix cell, most confident first."""
    cell = joined[(joined["true_label"] == true_label) & (joined["predicted_label"] == predicted_label)]
    return cell.sort_values("confidence", ascending=False, kind="stable")


def misclassified(joined: pd.DataFrame, limit: int = 50) -> pd.DataFrame:
    """Wrong predictions, the most confident mistakes first (those are the surprising ones)."""
    wrong = joined[~joined["correct"]]
    return wrong.sort_values("confidence", ascending=False, kind="stable").head(limit)


def least_confident(joined: pd.DataFrame, limit: int = 50) -> pd.DataFrame:
    """The predictions the model was least sure about, right or wrong."""
    return joined.sort_values("confidence", ascending=True, kind="stable").head(limit)


def confidence_histogram(predictions: pd.DataFrame, bins: int = 10) -> pd.DataFrame:
    """Counts of correct and wrong predictions per confidence bin. Columns: bin_start, bin_end, outcome, count."""
    confidence = predictions["confidence"].to_numpy(dtype=float)
    correct = (predictions["true_label"] == predictions["predicted_label"]).to_numpy()
    # Bin i holds i/bins <= c < (i+1)/bins; the small epsilon keeps 0.6 out of the 0.5 bin despite float
    # rounding, and a confidence of exactly 1.0 goes in the last bin.
    which = np.clip(np.floor(confidence * bins + 1e-9).astype(int), 0, bins - 1)
    rows = []
    for i in range(bins):
        for outcome, mask in (("correct", correct), ("wrong", ~correct)):
            rows.append({"bin_start": round(i / bins, 6), "bin_end": round((i + 1) / bins, 6), "outcome": outcome,
                         "count": int(np.sum((which == i) & mask))})
    return pd.DataFrame(rows, columns=["bin_start", "bin_end", "outcome", "count"])


# --- Two-class threshold ------------------------------------------------------------------------------


def metrics_at_threshold(predictions: pd.DataFrame, labels: Sequence[str], positive: str,
                         threshold: float) -> dict[str, Any]:
    """The test metrics if `positive` were predicted whenever P(positive) >= threshold."""
    predicted = predict_at(probability_matrix(predictions, labels), labels, positive, threshold)
    return evaluate(predictions["true_label"].tolist(), predicted, labels)


def threshold_curve(predictions: pd.DataFrame, labels: Sequence[str], positive: str,
                    thresholds: Sequence[float] | None = None) -> pd.DataFrame:
    """Precision, recall and F1 of the positive class across thresholds (columns: threshold, name, value)."""
    thresholds = np.round(np.linspace(0.05, 0.95, 19), 2) if thresholds is None else thresholds
    rows = []
    for threshold in thresholds:
        scores = metrics_at_threshold(predictions, labels, positive, float(threshold))["per_class"][positive]
        rows += [{"threshold": float(threshold), "name": name, "value": scores[name]}
                 for name in ("precision", "recall", "f1")]
    return pd.DataFrame(rows, columns=["threshold", "name", "value"])


# --- Learning curves ----------------------------------------------------------------------------------


def learning_curves(points: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Stored metric points (step, epoch, name, value) grouped into the charts the page draws.

    "loss": train_loss per step (and val_loss per epoch, at its step); "validation": val_accuracy and
    val_macro_f1 per epoch. Missing curves give empty frames.
    """
    columns = ["step", "epoch", "name", "value"]
    points = points if not points.empty else pd.DataFrame(columns=columns)
    loss = points[points["name"].isin(["train_loss", "val_loss"])].sort_values("step", kind="stable")
    validation = points[points["name"].isin(["val_accuracy", "val_macro_f1"])].sort_values("epoch", kind="stable")
    return {"loss": loss[columns].reset_index(drop=True), "validation": validation[columns].reset_index(drop=True)}
