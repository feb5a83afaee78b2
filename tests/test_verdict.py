"""The pilot's verdict against hand-computed cases: intervals that stay honest at the edges (24 of 24 right is not
"100% certain"), macro-F1 as scikit-learn computes it, an exact paired test against a baseline, and a target that is
met only when the whole interval clears it."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import f1_score

from core.evaluation.verdict import (
    CANNOT_TELL, NOT_YET, PASS, Target, accuracy_interval, macro_f1, macro_f1_interval, paired, verdict,
)


def wilson(correct: int, total: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """The Wilson score interval written out by hand."""
    p = correct / total
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    return centre - half, centre + half


@pytest.mark.parametrize("correct,total", [(24, 24), (22, 24), (0, 10), (900, 1000)])
def test_the_accuracy_interval_is_wilsons(correct, total):
    interval = accuracy_interval(correct, total)
    low, high = wilson(correct, total)
    assert (interval.low, interval.high) == (pytest.approx(low), pytest.approx(high))
    assert interval.value == correct / total


def test_24_of_24_right_is_not_certain():
    interval = accuracy_interval(24, 24)
    assert interval.value == 1.0 and interval.high == pytest.approx(1.0) and interval.low == pytest.approx(0.862, abs=1e-3)
    assert "86.2%" in interval.text()


def test_macro_f1_equals_scikit_learns_every_class_counting():
    rng = np.random.default_rng(3)
    for classes in (2, 5, 26):
        y_true, y_pred = rng.integers(0, classes, 300), rng.integers(0, classes, 300)
        y_pred[:150] = y_true[:150]
        expected = f1_score(y_true, y_pred, labels=list(range(classes + 1)), average="macro", zero_division=0)
        assert macro_f1(y_true, y_pred, classes + 1)[0] == pytest.approx(expected)  # one class absent: counts 0


def test_the_macro_f1_interval_holds_the_value_and_narrows_with_more_examples():
    rng = np.random.default_rng(0)

    def width(n: int) -> float:
        y_true = rng.integers(0, 3, n)
        y_pred = np.where(rng.random(n) < 0.8, y_true, rng.integers(0, 3, n))
        interval = macro_f1_interval(y_true, y_pred, 3)
        assert interval.low <= interval.value <= interval.high
        return interval.high - interval.low

    assert width(2000) < width(100) / 3


def test_the_paired_test_is_an_exact_one_sided_mcnemar():
    model = np.array([True] * 10 + [False] * 0 + [True] * 5)
    baseline = np.array([False] * 10 + [True] * 5)
    clear = paired("majority", model, baseline)
    assert (clear.model_only, clear.baseline_only) == (10, 0)
    assert clear.p_value == pytest.approx(0.5 ** 10) and clear.better
    close = paired("majority", np.array([True] * 6 + [False] * 4), np.array([False] * 6 + [True] * 4))
    assert close.p_value == pytest.approx(386 / 1024) and not close.better  # P(X >= 6), X ~ Bin(10, 1/2)


def test_a_target_passes_fails_or_cannot_be_told_from_the_interval():
    labels = ["ham", "spam"]
    y_true = np.array([0] * 700 + [1] * 300)
    y_pred = y_true.copy()
    y_pred[:20] = 1  # 98% accuracy on 1,000 examples; spam recall 100%
    assert verdict(y_true, y_pred, labels, target=Target("accuracy", 0.95)).target_status == PASS
    assert verdict(y_true, y_pred, labels, target=Target("accuracy", 0.995)).target_status == NOT_YET
    few = verdict(y_true[::50], y_pred[::50], labels, target=Target("accuracy", 0.95))  # 20 examples, 1 wrong
    assert few.target_status == CANNOT_TELL and "cannot tell" in few.target_reason
    assert verdict(y_true, y_pred, labels, target=Target("recall", 0.98, "spam")).target_status == PASS
    with pytest.raises(ValueError, match="does not have"):
        verdict(y_true, y_pred, labels, target=Target("recall", 0.9, "eggs"))


def test_small_and_weak_classes_are_named_and_baselines_compared_on_the_same_examples():
    labels = ["a", "b", "c"]
    y_true = np.array([0] * 100 + [1] * 100 + [2] * 10)
    y_pred = y_true.copy()
    y_pred[200:207] = 0  # class c: 3 of 10 right
    result = verdict(y_true, y_pred, labels, baseline_predictions={"majority": np.zeros(210, dtype=int)})
    assert result.small_classes == {"c": 10}
    assert [name for name, _ in result.weak_classes] == ["c"]
    [majority] = result.baselines
    assert majority.better and (majority.model_only, majority.baseline_only) == (103, 0)
