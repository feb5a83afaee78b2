"""Likely label errors by confident learning (Northcutt, Jiang and Chuang, 2021), written plainly.

Input: out-of-fold predicted probabilities (every example predicted by a model that did not train on it) and the
given labels. Each class j gets a threshold t_j, the mean probability of j over the examples labelled j: how sure
the model is, on average, of an example that really is j. An example labelled i is a likely error when some other
class k reaches its own threshold (p_k >= t_k) and p_i does not reach t_i: the example sits, with the model's
usual confidence, in k's territory (the off-diagonal of the "confident joint"); so is one whose most likely class
is not its label. The flagged examples are ranked by
how little probability the given label gets ("self-confidence", the ranking cleanlab uses by default); the score
shown is 1 - p_given, so higher means more doubt, and the suggestion is the most likely other class.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LabelIssue:
    position: int  # index into the arrays given (the caller maps it to a row)
    given: int  # class id as labelled
    suggested: int  # the most likely other class
    score: float  # 1 - p(given label), out of fold: how strongly the model doubts the label (0..1)


def class_thresholds(probabilities: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """t_j: the mean probability of class j over the examples labelled j (1.0 for a class with no examples, so
    nothing is ever moved into it)."""
    num_labels = probabilities.shape[1]
    thresholds = np.ones(num_labels)
    for j in range(num_labels):
        mine = labels == j
        if mine.any():
            thresholds[j] = probabilities[mine, j].mean()
    return thresholds


def find_label_issues(probabilities: np.ndarray, labels: np.ndarray) -> list[LabelIssue]:
    """The likely label errors, most doubted first. probabilities: (N, C) out of fold; labels: (N,) class ids."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    n, num_labels = probabilities.shape
    if n == 0 or num_labels < 2:
        return []
    thresholds = class_thresholds(probabilities, labels)
    rows = np.arange(n)
    given_p = probabilities[rows, labels]
    others = probabilities.copy()
    others[rows, labels] = -1.0  # the given class is never its own suggestion
    suggested = others.argmax(axis=1)
    confident_elsewhere = (others >= thresholds[None, :]).any(axis=1)
    # The confident joint's off-diagonal, and every example whose most likely class is not its label: a strongly
    # regularised head spreads its probabilities, so an example can lie clearly in another class (its argmax)
    # without that class reaching its mean (on well separated blobs with 40 flips, 10 of them).
    flagged = (confident_elsewhere & (given_p < thresholds[labels])) | (probabilities.argmax(axis=1) != labels)
    # Most doubted first; ties (e.g. several at probability 0) keep the data's order.
    order = sorted(np.flatnonzero(flagged), key=lambda i: (given_p[i], i))
    return [LabelIssue(int(i), int(labels[i]), int(suggested[i]), float(1.0 - given_p[i])) for i in order]
