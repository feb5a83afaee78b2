"""The decision rule a run answers with, and the doubtful cases it leaves to a person.

One rule serves Results, Predict, batch downloads, the command line and the API:
1) probabilities are calibrated with the run's temperature (core.evaluation.calibration);
2) the answer is the most probable class, or for two classes the saved threshold's class
   (core.evaluation.threshold's convention: a threshold on P(labels[1]));
3) an answer whose calibrated probability is below the run's operating point (`min_confidence`) is marked
   `uncertain`: the model still says what it thinks, and the user knows to send it to a person.

The operating point is chosen on validation predictions (choose_min_confidence); test predictions only report
what the chosen point achieves (answered_figures). Nothing here reads a split by itself: callers pass it in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from core.evaluation.calibration import apply_temperature


@dataclass(frozen=True)
class DecisionRule:
    labels: tuple[str, ...]
    temperature: float = 1.0
    threshold: float | None = None  # two classes only: the saved threshold on P(labels[1]); None = most probable
    min_confidence: float | None = None  # answers below it are uncertain; None = every answer is given plainly

    @classmethod
    def of_run(cls, run: Any) -> DecisionRule:
        """The rule a stored run answers with (a RunResult or a Run row: labels, calibration, threshold,
        min_confidence)."""
        labels = getattr(run, "labels", None) or run.dataset.labels
        calibration = getattr(run, "calibration", None) or {}
        return cls(tuple(labels), float(calibration.get("temperature") or 1.0),
                   run.threshold if len(labels) == 2 else None, getattr(run, "min_confidence", None))

    def calibrated(self, probabilities: np.ndarray) -> np.ndarray:
        return apply_temperature(np.asarray(probabilities, dtype=float).reshape(-1, len(self.labels)),
                                 self.temperature)

    def decide(self, probabilities: np.ndarray) -> Decisions:
        """(N, C) raw probabilities in label order -> the answer, its calibrated probability and the uncertain flag."""
        calibrated = self.calibrated(probabilities)
        if self.threshold is not None and len(self.labels) == 2:
            chosen = (calibrated[:, 1] >= self.threshold).astype(int)
        else:
            chosen = calibrated.argmax(axis=1) if len(calibrated) else np.zeros(0, dtype=int)
        confidence = calibrated[np.arange(len(chosen)), chosen] if len(chosen) else np.zeros(0)
        uncertain = confidence < self.min_confidence if self.min_confidence is not None \
            else np.zeros(len(chosen), dtype=bool)
        return Decisions([self.labels[i] for i in chosen], chosen, confidence, uncertain, calibrated)

    def decide_one(self, probabilities: dict[str, float]) -> tuple[str, float, bool, dict[str, float]]:
        """One input's {label: raw probability} -> (answer, calibrated confidence, uncertain, calibrated
        probabilities)."""
        decisions = self.decide(np.array([[probabilities[label] for label in self.labels]]))
        calibrated = {label: float(p) for label, p in zip(self.labels, decisions.probabilities[0])}
        return decisions.labels[0], float(decisions.confidence[0]), bool(decisions.uncertain[0]), calibrated


@dataclass(frozen=True)
class Decisions:
    labels: list[str]
    label_ids: np.ndarray  # (N,)
    confidence: np.ndarray  # (N,) calibrated probability of the answer
    uncertain: np.ndarray  # (N,) bool
    probabilities: np.ndarray  # (N, C) calibrated


# --- Coverage and accuracy: answering only the confident cases ----------------------------------------------------


def coverage_curve(confidence: np.ndarray, correct: np.ndarray) -> pd.DataFrame:
    """For each possible operating point (each distinct confidence, highest first): the share of examples answered
    (confidence >= it) and the accuracy on those. Columns: min_confidence, coverage, accuracy, answered."""
    confidence, correct = np.asarray(confidence, dtype=float), np.asarray(correct, dtype=bool)
    if not len(confidence):
        return pd.DataFrame(columns=["min_confidence", "coverage", "accuracy", "answered"])
    order = np.argsort(-confidence, kind="stable")
    sorted_confidence, right = confidence[order], np.cumsum(correct[order])
    # Ties answer together: keep the last position of each distinct confidence.
    last = np.r_[sorted_confidence[1:] != sorted_confidence[:-1], True]
    answered = np.arange(1, len(confidence) + 1)[last]
    return pd.DataFrame({"min_confidence": sorted_confidence[last], "coverage": answered / len(confidence),
                         "accuracy": right[last] / answered, "answered": answered})


def choose_min_confidence(confidence: np.ndarray, correct: np.ndarray, target_accuracy: float) -> float | None:
    """The lowest operating point whose answered accuracy reaches `target_accuracy` (so the most examples are
    answered), from VALIDATION confidences and correctness; None when no point reaches it."""
    curve = coverage_curve(confidence, correct)
    reaching = curve[curve["accuracy"] >= target_accuracy - 1e-12]
    return None if reaching.empty else float(reaching["min_confidence"].iloc[-1])


@dataclass(frozen=True)
class Answered:
    """What an operating point does on one split."""

    total: int
    answered: int
    right: int

    @property
    def coverage(self) -> float:
        return self.answered / self.total if self.total else 0.0

    @property
    def accuracy(self) -> float | None:
        return self.right / self.answered if self.answered else None


def answered_figures(confidence: np.ndarray, correct: np.ndarray, min_confidence: float | None) -> Answered:
    confidence, correct = np.asarray(confidence, dtype=float), np.asarray(correct, dtype=bool)
    kept = confidence >= min_confidence if min_confidence is not None else np.ones(len(confidence), dtype=bool)
    return Answered(int(len(confidence)), int(kept.sum()), int((correct & kept).sum()))


def decided_frame(predictions: pd.DataFrame, rule: DecisionRule) -> pd.DataFrame:
    """A stored predictions frame (true_label, probabilities...) as the rule answers it: predicted_label,
    confidence (calibrated), uncertain, correct and calibrated probabilities replace the stored ones."""
    probabilities = np.asarray(predictions["probabilities"].tolist(), dtype=float).reshape(len(predictions),
                                                                                          len(rule.labels))
    decisions = rule.decide(probabilities)
    frame = predictions.copy()
    frame["predicted_label"] = decisions.labels
    frame["confidence"] = decisions.confidence
    frame["uncertain"] = decisions.uncertain
    frame["correct"] = frame["predicted_label"] == frame["true_label"]
    frame["probabilities"] = [list(map(float, row)) for row in decisions.probabilities]
    return frame


def label_ids(true_labels: Sequence[str], labels: Sequence[str]) -> np.ndarray:
    index = {label: i for i, label in enumerate(labels)}
    return np.array([index[t] for t in true_labels], dtype=np.int64)
