"""Calibrated confidence: temperature scaling fitted on validation, and how well confidence matches accuracy.

A network's softmax is often overconfident: "99% sure" right only 90% of the time. Temperature scaling (Guo et al.,
2017) divides the logits by one number T > 0 fitted to minimise the negative log-likelihood on validation data; it
never changes which class is most probable, only how sure the model says it is. We keep probabilities, not logits:
log p differs from the logits by a constant per example, which softmax ignores, so softmax(log p / T) is the same.

The expected calibration error (ECE) is the gap between confidence and accuracy, averaged over equal-width
confidence bins weighted by how many examples fall in each: 0 is perfectly calibrated. It is measured on test.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, softmax

ECE_BINS = 15  # the usual choice in the literature; reliability charts use RELIABILITY_BINS for readability
RELIABILITY_BINS = 10
MIN_VALIDATION = 30  # fewer validation examples cannot fit a temperature worth trusting: keep T = 1
TEMPERATURE_RANGE = (0.05, 20.0)
SMALLEST_PROBABILITY = 1e-9  # stored probabilities are rounded; log(0) would be -inf


def _log_probabilities(probabilities: np.ndarray) -> np.ndarray:
    return np.log(np.clip(np.asarray(probabilities, dtype=float), SMALLEST_PROBABILITY, 1.0))


def apply_temperature(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """(N, C) probabilities -> (N, C) probabilities as if the logits had been divided by `temperature`."""
    probabilities = np.asarray(probabilities, dtype=float)
    if probabilities.size == 0 or temperature == 1.0:
        return probabilities
    return softmax(_log_probabilities(probabilities) / temperature, axis=1)


def negative_log_likelihood(probabilities: np.ndarray, y_true: np.ndarray, temperature: float = 1.0) -> float:
    """Mean -log P(true class) after scaling by `temperature`."""
    scaled = log_softmax(_log_probabilities(probabilities) / temperature, axis=1)
    return float(-scaled[np.arange(len(y_true)), np.asarray(y_true, dtype=int)].mean())


def fit_temperature(probabilities: np.ndarray, y_true: np.ndarray) -> float:
    """The T in TEMPERATURE_RANGE that minimises the validation negative log-likelihood (searched on log T)."""
    low, high = np.log(TEMPERATURE_RANGE[0]), np.log(TEMPERATURE_RANGE[1])
    found = minimize_scalar(lambda log_t: negative_log_likelihood(probabilities, y_true, float(np.exp(log_t))),
                            bounds=(low, high), method="bounded", options={"xatol": 1e-4})
    return float(np.exp(found.x))


def _bins(confidence: np.ndarray, bins: int) -> np.ndarray:
    # Bin i holds i/bins < c <= (i+1)/bins (a confidence of 1.0 is in the last bin, one of 0 in the first).
    return np.clip(np.ceil(confidence * bins - 1e-9).astype(int) - 1, 0, bins - 1)


def reliability(probabilities: np.ndarray, y_true: np.ndarray, bins: int = RELIABILITY_BINS) -> pd.DataFrame:
    """Per confidence bin: mean confidence, accuracy and count (empty bins left out).
    Columns: bin_start, bin_end, confidence, accuracy, count."""
    probabilities = np.asarray(probabilities, dtype=float)
    confidence = probabilities.max(axis=1) if len(probabilities) else np.zeros(0)
    correct = probabilities.argmax(axis=1) == np.asarray(y_true) if len(probabilities) else np.zeros(0, bool)
    which = _bins(confidence, bins)
    rows = [{"bin_start": i / bins, "bin_end": (i + 1) / bins, "confidence": float(confidence[which == i].mean()),
             "accuracy": float(correct[which == i].mean()), "count": int((which == i).sum())}
            for i in range(bins) if (which == i).any()]
    return pd.DataFrame(rows, columns=["bin_start", "bin_end", "confidence", "accuracy", "count"])


def expected_calibration_error(probabilities: np.ndarray, y_true: np.ndarray, bins: int = ECE_BINS) -> float:
    """sum over bins of (examples in bin / N) * |accuracy - mean confidence|."""
    table = reliability(probabilities, y_true, bins)
    if table.empty:
        return 0.0
    weights = table["count"] / table["count"].sum()
    return float((weights * (table["accuracy"] - table["confidence"]).abs()).sum())


def perfect_calibration_error(probabilities: np.ndarray, draws: int = 200, seed: int = 0) -> tuple[float, float, float]:
    """The ECE a PERFECTLY calibrated model would still show on this many examples (mean, 5th and 95th
    percentile): labels drawn from the probabilities themselves, so confidence and accuracy agree except for
    chance. A measured ECE inside this range cannot be told apart from perfect calibration at this test size."""
    probabilities = np.asarray(probabilities, dtype=float)
    if not len(probabilities):
        return 0.0, 0.0, 0.0
    rng = np.random.default_rng(seed)
    cumulative = np.cumsum(probabilities / probabilities.sum(axis=1, keepdims=True), axis=1)  # (N, C)
    drawn = (rng.random((draws, len(probabilities), 1)) < cumulative[None]).argmax(axis=2)  # (draws, N) labels
    errors = [expected_calibration_error(probabilities, labels) for labels in drawn]
    return float(np.mean(errors)), float(np.percentile(errors, 5)), float(np.percentile(errors, 95))


@dataclass(frozen=True)
class Calibration:
    """What a run stores (Run.calibration): the temperature and the test ECE before and after it."""

    temperature: float = 1.0
    validation_examples: int = 0
    ece_before: float | None = None  # on test, raw probabilities
    ece_after: float | None = None  # on test, after the temperature
    note: str = ""  # why no temperature was fitted, when none was

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, stored: dict | None) -> Calibration:
        known = {k: v for k, v in (stored or {}).items() if k in cls.__dataclass_fields__}
        return cls(**known)


def calibrate(val_probabilities: np.ndarray, y_val: np.ndarray, test_probabilities: np.ndarray,
              y_test: np.ndarray) -> Calibration:
    """Fit the temperature on validation only, then measure on test what it changed."""
    before = expected_calibration_error(test_probabilities, y_test) if len(y_test) else None
    if len(y_val) < MIN_VALIDATION:
        return Calibration(1.0, int(len(y_val)), before, before,
                           note=f"Only {len(y_val)} validation examples (at least {MIN_VALIDATION} are needed to fit "
                                "a temperature); confidences are the model's own.")
    temperature = fit_temperature(val_probabilities, y_val)
    after = expected_calibration_error(apply_temperature(test_probabilities, temperature), y_test) \
        if len(y_test) else None
    return Calibration(round(temperature, 4), int(len(y_val)), before, after)


def rescale_threshold(threshold: float, temperature: float) -> float:
    """A two-class threshold on the raw P(labels[1]) -> the same decision on the calibrated probability.
    With two classes the calibrated p is sigmoid(logit(p) / T), which keeps the order of examples."""
    t = float(np.clip(threshold, SMALLEST_PROBABILITY, 1 - SMALLEST_PROBABILITY))
    return float(1.0 / (1.0 + np.exp(-np.log(t / (1 - t)) / temperature)))
