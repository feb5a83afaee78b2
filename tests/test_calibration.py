"""Calibration, the operating point and the decision rule, against cases computed by hand."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import log_loss

from core.evaluation.calibration import (
    MIN_VALIDATION, apply_temperature, calibrate, expected_calibration_error, fit_temperature,
    perfect_calibration_error, reliability, rescale_threshold,
)
from core.evaluation.decision import (
    DecisionRule, answered_figures, choose_min_confidence, coverage_curve,
)


def two_class(p_second: list[float]) -> np.ndarray:
    p = np.array(p_second, dtype=float)
    return np.column_stack([1 - p, p])


def overconfident(n: int, true_temperature: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from softmax(z / T) while the model states softmax(z): overconfident by T."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, 4)) * 4
    truth = np.exp(logits / true_temperature)
    truth /= truth.sum(axis=1, keepdims=True)
    labels = np.array([rng.choice(4, p=row) for row in truth])
    stated = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return stated, labels


def test_expected_calibration_error_by_hand():
    # Two bins: 0.9-sure answers right 1 of 2 (gap 0.4), 0.6-sure answers right 2 of 2 (gap 0.4): ECE 0.4.
    probabilities = two_class([0.9, 0.9, 0.6, 0.6])
    y = np.array([1, 0, 1, 1])
    assert expected_calibration_error(probabilities, y) == pytest.approx(0.4)
    table = reliability(probabilities, y)
    assert table[["confidence", "accuracy", "count"]].values.tolist() == [[0.6, 1.0, 2], [0.9, 0.5, 2]]
    # A model right exactly as often as it says is calibrated: 0.75-sure answers, 3 of 4 right.
    assert expected_calibration_error(two_class([0.75] * 4), np.array([1, 1, 1, 0])) == pytest.approx(0.0)


def test_the_temperature_undoes_a_known_overconfidence_and_keeps_every_answer():
    stated, y = overconfident(3000, true_temperature=2.5, seed=0)
    temperature = fit_temperature(stated, y)
    assert temperature == pytest.approx(2.5, rel=0.1)
    scaled = apply_temperature(stated, temperature)
    assert (scaled.argmax(axis=1) == stated.argmax(axis=1)).all()  # never changes which class is most probable
    np.testing.assert_allclose(scaled.sum(axis=1), 1.0)
    assert log_loss(y, scaled) < log_loss(y, stated)
    assert expected_calibration_error(scaled, y) < expected_calibration_error(stated, y) / 2
    np.testing.assert_allclose(apply_temperature(stated, 1.0), stated)


def test_calibrate_fits_on_validation_only_and_measures_on_test():
    val, y_val = overconfident(600, 2.0, seed=1)
    test, y_test = overconfident(600, 2.0, seed=2)
    fitted = calibrate(val, y_val, test, y_test)
    assert fitted.temperature == pytest.approx(fit_temperature(val, y_val), abs=1e-3)
    assert fitted.ece_before == pytest.approx(expected_calibration_error(test, y_test))
    assert fitted.ece_after < fitted.ece_before / 2
    # The test split changes the figures reported, never the temperature chosen.
    other_test, other_y = overconfident(300, 0.5, seed=3)
    assert calibrate(val, y_val, other_test, other_y).temperature == fitted.temperature
    few = calibrate(val[:MIN_VALIDATION - 1], y_val[:MIN_VALIDATION - 1], test, y_test)
    assert few.temperature == 1.0 and "validation examples" in few.note and few.ece_after == few.ece_before


def test_a_threshold_moved_onto_calibrated_probabilities_makes_the_same_decisions():
    raw = two_class(np.linspace(0.005, 0.995, 100).tolist())  # none exactly on a threshold
    for temperature in (0.5, 1.7, 3.0):
        for threshold in (0.2, 0.5, 0.83):
            before = DecisionRule(("a", "b"), threshold=threshold).decide(raw).labels
            after = DecisionRule(("a", "b"), temperature, rescale_threshold(threshold, temperature)).decide(raw).labels
            assert before == after


def test_coverage_curve_and_operating_point_by_hand():
    confidence = np.array([0.95, 0.9, 0.9, 0.8, 0.7, 0.6])
    correct = np.array([True, True, True, False, True, False])
    curve = coverage_curve(confidence, correct)
    # Ties answer together: 0.9 covers three examples at once.
    np.testing.assert_allclose(curve.to_numpy(float), [[0.95, 1 / 6, 1.0, 1], [0.9, 3 / 6, 1.0, 3],
                                                       [0.8, 4 / 6, 0.75, 4], [0.7, 5 / 6, 0.8, 5],
                                                       [0.6, 1.0, 4 / 6, 6]])
    assert choose_min_confidence(confidence, correct, 1.0) == 0.9  # the lowest point still all right
    assert choose_min_confidence(confidence, correct, 0.8) == 0.7  # 0.8 is reached again lower down: more answered
    assert choose_min_confidence(confidence, correct[::-1] & False, 0.5) is None
    figures = answered_figures(confidence, correct, 0.9)
    assert (figures.answered, figures.right, figures.coverage, figures.accuracy) == (3, 3, 0.5, 1.0)
    assert answered_figures(confidence, correct, None).answered == 6


def test_the_decision_rule_calibrates_thresholds_and_marks_doubtful_answers():
    rule = DecisionRule(("ham", "spam", "eggs"), temperature=2.0, min_confidence=0.5)
    decisions = rule.decide(np.array([[0.9, 0.05, 0.05], [0.4, 0.35, 0.25]]))
    assert decisions.labels == ["ham", "ham"]
    assert decisions.uncertain.tolist() == [False, True]
    assert decisions.confidence[0] < 0.9  # the temperature softened an overconfident answer
    label, confidence, uncertain, calibrated = rule.decide_one({"ham": 0.9, "spam": 0.05, "eggs": 0.05})
    assert (label, uncertain) == ("ham", False) and confidence == pytest.approx(calibrated["ham"])
    # Two classes: the saved threshold picks the class; the operating point flags a weak answer either way.
    two = DecisionRule(("ham", "spam"), threshold=0.3, min_confidence=0.6)
    decisions = two.decide(two_class([0.35, 0.65, 0.1]))
    assert decisions.labels == ["spam", "spam", "ham"]
    assert decisions.uncertain.tolist() == [True, False, False]


def test_the_chance_floor_is_what_a_perfectly_calibrated_model_shows():
    rng = np.random.default_rng(5)
    probabilities = rng.dirichlet(np.ones(5), size=400)
    floor, low, high = perfect_calibration_error(probabilities, draws=100)
    assert 0 < low <= floor <= high < 0.2
    # Labels really drawn from the probabilities land inside the range most of the time; an overconfident
    # model's (labels drawn from softened probabilities) lands far above it.
    honest = [expected_calibration_error(probabilities, (rng.random((400, 1)) < probabilities.cumsum(1)).argmax(1))
              for _ in range(40)]
    assert np.mean([low <= e <= high for e in honest]) >= 0.75
    stated, y = overconfident(400, 3.0, seed=6)
    assert expected_calibration_error(stated, y) > perfect_calibration_error(stated, draws=100)[2]
    # More examples: a smaller floor.
    assert perfect_calibration_error(np.tile(probabilities, (10, 1)), draws=50)[0] < floor / 2
