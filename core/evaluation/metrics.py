"""Classification metrics on the held-out test set (scikit-learn), in the shape runs store them."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support


def accuracy_and_macro_f1(y_true: np.ndarray, y_pred: np.ndarray, num_labels: int) -> tuple[float, float]:
    ids = list(range(num_labels))
    return (
        float(accuracy_score(y_true, y_pred)),
        float(f1_score(y_true, y_pred, labels=ids, average="macro", zero_division=0)),
    )


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, labels: list[str]) -> dict[str, Any]:
    """accuracy, macro / weighted precision, recall, F1, per-class report, confusion matrix.

    Macro averages run over every class in `labels` (a class absent from the test set counts as 0),
    so runs on the same dataset are always comparable. Rows of the matrix are true labels, columns predictions.
    """
    ids = list(range(len(labels)))
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    result: dict[str, Any] = {"accuracy": float(accuracy_score(y_true, y_pred)) if len(y_true) else 0.0}
    for average in ("macro", "weighted"):
        p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, labels=ids, average=average, zero_division=0)
        result.update({f"{average}_precision": float(p), f"{average}_recall": float(r), f"{average}_f1": float(f)})
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=ids, average=None, zero_division=0)
    result["per_class"] = {
        label: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
        for i, label in enumerate(labels)
    }
    matrix = confusion_matrix(y_true, y_pred, labels=ids) if len(y_true) else np.zeros((len(ids), len(ids)), int)
    result["confusion_matrix"] = {"labels": list(labels), "matrix": matrix.astype(int).tolist()}
    return result
