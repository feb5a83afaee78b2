"""Would more data help? A learning curve of the fast model: a linear head on the backbone's cached features,
trained on 10, 25, 50 and 100% of the training split (three draws each), scored on the validation split.

The trend is a power law in the error, err(n) = a * n^b (learning curves of classifiers follow one closely once
each class has enough examples), fitted in log-log space from 25% of the data up and read at twice the data. Its range comes from refitting on the
curve's points resampled with replacement (a bootstrap). The curve uses validation only: the test split judges
the runs and stays out of every estimate made to decide something.

The head and the features are core.training.head_folds' (shared with the label review): scikit-learn's logistic
regression on standardised features, the same linear model as Tuneboard's head-only method, fitted in well under a
second per point, on the head-only method's cache, so a dataset a head-only run has seen costs no backbone pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.training.head_folds import head_features, linear_head

FRACTIONS = (0.1, 0.25, 0.5, 1.0)
# The trend is fitted from this share up: with 10% of the data many classes have a handful of examples, a
# different regime (on fortunes' 26 classes the curve is flat from 10% to 25%, then climbs: a fit through the
# 10% point promised +0.5 points for twice the data where the last doubling gave +5.7).
TREND_FROM = 0.25
DRAWS = 3  # subsets drawn per fraction
BOOTSTRAP = 300
MIN_VALIDATION = 20  # fewer validation examples cannot tell the points of the curve apart


@dataclass(frozen=True)
class CurvePoint:
    fraction: float
    examples: int
    accuracy: float  # mean over the draws
    low: float  # lowest draw
    high: float  # highest draw


@dataclass(frozen=True)
class DataCurve:
    points: list[CurvePoint] = field(default_factory=list)
    doubled: float | None = None  # expected validation accuracy with twice the training data
    doubled_low: float | None = None  # 5th and 95th percentile of the bootstrap
    doubled_high: float | None = None
    validation_examples: int = 0
    note: str = ""  # why there is no curve or no trend

    @property
    def current(self) -> float | None:
        return self.points[-1].accuracy if self.points else None


def data_curve(dataset_dir: Path, labels: list[str], task: str, model: str) -> DataCurve:
    """The curve for `model` on the stored dataset (features extracted first when they are not cached)."""
    head = head_features(Path(dataset_dir), labels, task, model)
    splits = head.splits
    if "val" not in head.features or len(splits["val"]) < MIN_VALIDATION:
        return DataCurve(validation_examples=len(splits["val"]),
                         note=f"Only {len(splits['val'])} validation examples: at least {MIN_VALIDATION} are needed "
                              "to tell the points of a learning curve apart.")
    return learning_curve(head.features["train"], splits["train"].labels, head.features["val"], splits["val"].labels)


def learning_curve(train_x: np.ndarray, train_y: np.ndarray, val_x: np.ndarray, val_y: np.ndarray,
                   fractions: tuple[float, ...] = FRACTIONS, draws: int = DRAWS, seed: int = 0) -> DataCurve:
    """Validation accuracy of a linear head on growing stratified subsets of the training features, and the trend
    read at twice the training data."""
    rng = np.random.default_rng(seed)
    points, samples = [], []  # samples: (examples, accuracy) of every draw, for the trend
    for fraction in fractions:
        count = max(len(np.unique(train_y)) * 2, int(round(fraction * len(train_y))))
        scores = []
        for _ in range(1 if fraction >= 1.0 else draws):  # the whole split is one draw
            chosen = _stratified(train_y, min(count, len(train_y)), rng)
            scores.append(_head_accuracy(train_x[chosen], train_y[chosen], val_x, val_y))
            if fraction >= TREND_FROM:
                samples.append((len(chosen), scores[-1]))
        points.append(CurvePoint(fraction, min(count, len(train_y)), float(np.mean(scores)), float(min(scores)),
                                 float(max(scores))))
    examples, accuracy = np.array(samples, dtype=float).T
    if len(np.unique(examples)) < 2:
        return DataCurve(points, validation_examples=len(val_y), note="Too little training data for a trend.")
    target = 2.0 * len(train_y)
    doubled = _trend_at(examples, accuracy, target, len(val_y))
    resampled = [_trend_at(examples[i], accuracy[i], target, len(val_y))
                 for i in (rng.integers(0, len(examples), len(examples)) for _ in range(BOOTSTRAP))
                 if len(np.unique(examples[i])) >= 2]
    low, high = np.percentile(resampled, [5, 95])
    return DataCurve(points, doubled, float(min(low, doubled)), float(max(high, doubled)), len(val_y))


def _stratified(labels: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` positions drawn without replacement, each class in proportion (at least one of each)."""
    chosen = []
    for label in np.unique(labels):
        where = np.flatnonzero(labels == label)
        take = max(1, int(round(count * len(where) / len(labels))))
        chosen.append(rng.choice(where, size=min(take, len(where)), replace=False))
    return np.sort(np.concatenate(chosen))


def _head_accuracy(x: np.ndarray, y: np.ndarray, val_x: np.ndarray, val_y: np.ndarray) -> float:
    if len(np.unique(y)) < 2:
        return float(np.mean(val_y == y[0]))
    head = linear_head().fit(x, y)
    return float(np.mean(head.predict(val_x) == val_y))


def _trend_at(examples: np.ndarray, accuracy: np.ndarray, target: float, validation: int) -> float:
    """The power law err = a * n^b fitted to the points (log-log least squares), read at `target` examples. The
    error is floored at half an example of the validation split (a perfect point has no logarithm), and a curve
    that gets worse with data (b > 0: noise) is read as flat."""
    error = np.maximum(1.0 - accuracy, 0.5 / validation)
    slope, intercept = np.polyfit(np.log(examples), np.log(error), 1)
    if slope >= 0:
        return float(1.0 - np.mean(error[examples == examples.max()]))
    return float(np.clip(1.0 - np.exp(intercept + slope * np.log(target)), 0.0, 1.0))
