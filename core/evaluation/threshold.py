"""The two-class decision threshold: which class counts as positive, and what the model says at a threshold.

Convention (one place, used by Results and by every prediction): `Run.threshold` is stored as the
minimum probability of the dataset's SECOND label (`labels[1]`, labels sorted) for that label to be
predicted. The user may look at the threshold from either class; `to_stored` / `from_stored` convert,
since with two classes P(labels[0]) = 1 - P(labels[1]).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

DEFAULT_THRESHOLD = 0.5


def is_two_class(labels: Sequence[str]) -> bool:
    return len(labels) == 2


def positive_class(labels: Sequence[str], true_labels: Sequence[str], chosen: str | None = None) -> str:
    """The class whose detection matters: the one chosen, else the rarer class in `true_labels` (ties: labels[1])."""
    if chosen is not None:
        if chosen not in labels:
            raise ValueError(f"'{chosen}' is not one of the classes {list(labels)}.")
        return chosen
    counts = pd.Series(list(true_labels)).value_counts()
    first, second = labels[0], labels[1]
    return first if counts.get(first, 0) < counts.get(second, 0) else second


def to_stored(threshold: float, positive: str, labels: Sequence[str]) -> float:
    """A threshold on P(positive) -> the stored threshold on P(labels[1])."""
    return float(threshold) if positive == labels[1] else float(1.0 - threshold)


def from_stored(stored: float | None, positive: str, labels: Sequence[str]) -> float:
    """The stored threshold (None = not set, i.e. 0.5) seen as a threshold on P(positive)."""
    stored = DEFAULT_THRESHOLD if stored is None else float(stored)
    return stored if positive == labels[1] else float(1.0 - stored)


def predict_at(probabilities: np.ndarray, labels: Sequence[str], positive: str, threshold: float) -> list[str]:
    """Labels for many examples: `positive` when P(positive) >= threshold. probabilities: (N, 2) in label order."""
    probabilities = np.asarray(probabilities, dtype=float).reshape(-1, 2)
    column = list(labels).index(positive)
    negative = labels[1 - column]
    return [positive if p >= threshold else negative for p in probabilities[:, column]]
