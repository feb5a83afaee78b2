"""A pilot's answer from a run's test predictions: how good the model is, how sure that is, whether it beats the
baselines by more than chance, which classes are weak, and whether it meets the user's target.

- Accuracy: a Wilson score interval (scipy), which stays honest at the edges: 24 of 24 right is 86%-100%, not 100%.
- Macro-F1: a percentile bootstrap over the test examples (seeded, so the page shows the same numbers each time).
- Better than a baseline: an exact one-sided McNemar test on the same examples — among the examples where exactly
  one of the two is right, is the model right more often than chance would give?
- A target ("accuracy at least 90%", or a recall for one class) passes when the whole interval clears it, is not
  met yet when the whole interval falls short, and otherwise cannot be told yet from this many test examples.

Only test predictions are read here: nothing is chosen from them, they judge.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.stats import binomtest

CONFIDENCE = 0.95
BOOTSTRAP_SAMPLES = 2000
BOOTSTRAP_SEED = 0
SMALL_CLASS = 30  # test examples of a class below which its numbers are too uncertain to decide on
SIGNIFICANCE = 0.05
WEAK_F1 = 0.7  # a class whose F1 is below this is named as weak (with the classes it is confused with)
PASS, NOT_YET, CANNOT_TELL = "pass", "not yet", "can't tell yet"


@dataclass(frozen=True)
class Interval:
    value: float
    low: float
    high: float

    def text(self) -> str:
        return f"{self.value:.1%} (95% interval {self.low:.1%} to {self.high:.1%})"


@dataclass(frozen=True)
class Paired:
    """The model against a baseline on the same test examples."""

    name: str
    model_only: int  # examples the model gets right and the baseline wrong
    baseline_only: int  # the other way round
    p_value: float

    @property
    def better(self) -> bool:
        return self.p_value < SIGNIFICANCE


@dataclass(frozen=True)
class Target:
    """What the user needs: `metric` "accuracy" or "recall", `label` the class for a recall, `value` in 0..1."""

    metric: str
    value: float
    label: str | None = None

    def text(self) -> str:
        named = f"recall of {self.label}" if self.metric == "recall" else self.metric
        return f"{named} at least {self.value:.0%}"


@dataclass
class Verdict:
    accuracy: Interval
    macro_f1: Interval
    test_examples: int
    small_classes: dict[str, int] = field(default_factory=dict)  # class -> test examples, below SMALL_CLASS
    baselines: list[Paired] = field(default_factory=list)
    weak_classes: list[tuple[str, float]] = field(default_factory=list)  # (class, F1), weakest first
    target: Target | None = None
    target_status: str | None = None  # PASS / NOT_YET / CANNOT_TELL
    target_reason: str = ""


def accuracy_interval(correct: int, total: int) -> Interval:
    if total == 0:
        return Interval(0.0, 0.0, 1.0)
    ci = binomtest(int(correct), int(total)).proportion_ci(confidence_level=CONFIDENCE, method="wilson")
    return Interval(correct / total, float(ci.low), float(ci.high))


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray, num_labels: int) -> np.ndarray:
    """Macro-F1 of each row of (B, N) label arrays at once (every class counts, absent ones as 0, as sklearn's)."""
    y_true, y_pred = np.atleast_2d(y_true), np.atleast_2d(y_pred)
    scores = np.zeros(y_true.shape[0])
    for label in range(num_labels):
        true, pred = y_true == label, y_pred == label
        hits = (true & pred).sum(axis=1)
        denominator = true.sum(axis=1) + pred.sum(axis=1)
        scores += np.where(denominator > 0, 2 * hits / np.maximum(denominator, 1), 0.0)
    return scores / num_labels


def macro_f1_interval(y_true: np.ndarray, y_pred: np.ndarray, num_labels: int) -> Interval:
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    value = float(macro_f1(y_true, y_pred, num_labels)[0])
    if len(y_true) < 2:
        return Interval(value, 0.0, 1.0)
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    samples = rng.integers(0, len(y_true), size=(BOOTSTRAP_SAMPLES, len(y_true)))
    scores = macro_f1(y_true[samples], y_pred[samples], num_labels)
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(scores, [tail, 100 - tail])
    return Interval(value, float(low), float(high))


def paired(name: str, model_right: np.ndarray, baseline_right: np.ndarray) -> Paired:
    """Exact one-sided McNemar: among the discordant examples, is the model right more often than half?"""
    model_only = int((model_right & ~baseline_right).sum())
    baseline_only = int((~model_right & baseline_right).sum())
    discordant = model_only + baseline_only
    p_value = binomtest(model_only, discordant, 0.5, alternative="greater").pvalue if discordant else 1.0
    return Paired(name, model_only, baseline_only, float(p_value))


def judge_target(target: Target, interval: Interval, examples: int) -> tuple[str, str]:
    if interval.low >= target.value:
        return PASS, (f"even the low end of the 95% interval ({interval.low:.1%}) reaches {target.value:.0%} on "
                      f"{examples:,} test examples.")
    if interval.high < target.value:
        return NOT_YET, (f"even the high end of the 95% interval ({interval.high:.1%}) stays below "
                         f"{target.value:.0%}: more or better data, or another method, is needed.")
    return CANNOT_TELL, (f"the 95% interval ({interval.low:.1%} to {interval.high:.1%}) spans {target.value:.0%}: "
                         f"{examples:,} test examples cannot tell; more test data would.")


def verdict(y_true: np.ndarray, y_pred: np.ndarray, labels: list[str],
            baseline_predictions: dict[str, np.ndarray] | None = None, target: Target | None = None) -> Verdict:
    """The verdict on test labels and predictions (label ids). baseline_predictions: name -> each test example's
    predicted label id by that baseline (e.g. "majority", "zero-shot"), compared on the same examples."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    right = y_true == y_pred
    result = Verdict(accuracy_interval(int(right.sum()), len(y_true)),
                     macro_f1_interval(y_true, y_pred, len(labels)), len(y_true))
    counts = np.bincount(y_true, minlength=len(labels))
    result.small_classes = {labels[i]: int(c) for i, c in enumerate(counts) if c < SMALL_CLASS}
    for name, predicted in (baseline_predictions or {}).items():
        result.baselines.append(paired(name, right, np.asarray(predicted) == y_true))
    f1 = {label: binary_f1(y_true == i, y_pred == i) for i, label in enumerate(labels) if counts[i]}
    result.weak_classes = sorted(((label, score) for label, score in f1.items() if score < WEAK_F1),
                                 key=lambda item: item[1])
    if target is not None:
        interval = result.accuracy if target.metric == "accuracy" else _recall_interval(y_true, y_pred, labels,
                                                                                      target.label)
        examples = len(y_true) if target.metric == "accuracy" else int(counts[labels.index(target.label)])
        result.target, (result.target_status, result.target_reason) = target, judge_target(target, interval, examples)
    return result


def binary_f1(true: np.ndarray, pred: np.ndarray) -> float:
    """F1 of one class, from "is it this class" flags for truth and prediction."""
    denominator = true.sum() + pred.sum()
    return float(2 * (true & pred).sum() / denominator) if denominator else 0.0


def _recall_interval(y_true: np.ndarray, y_pred: np.ndarray, labels: list[str], label: str | None) -> Interval:
    if label not in labels:
        raise ValueError(f"The target names the class {label!r}, which this dataset does not have.")
    of_class = y_true == labels.index(label)
    return accuracy_interval(int((y_pred[of_class] == labels.index(label)).sum()), int(of_class.sum()))


