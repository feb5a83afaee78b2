"""What to expect when classes have few labelled examples, from what was measured (bench/fewshot.py, the few-shot
table in docs/BENCHMARKS.md), and which method to pick.

The figures are macro-F1 on held-out texts with the Quick preset on the bundled MiniLM, the mean over draws of k
training examples per class (DRAWS says how many), on SMS spam (2 classes) and fortunes (26 overlapping classes),
and the training time on the shared 2-core CPU they were measured on. The recommendation is whichever method scored best at the size nearest
the user's, not a fixed name: rerun the benchmark and update MEASURED, and the advice follows.
"""

from __future__ import annotations

import statistics

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from core.datasets.files import read_examples

FEW_PER_CLASS = 20  # a class with fewer labelled examples than this makes the data "few examples"
# per class -> method -> (macro-F1 on SMS spam, macro-F1 on fortunes, training seconds on SMS spam; 2 busy cores).
# None: not measured (the benchmark did not get that far).
# Measured 2026-12-02 (bench/fewshot.py, 300 test texts per data set, load average 13 to 25 on 2 cores).
MEASURED: dict[int, dict[str, tuple[float | None, float | None, float | None]]] = {
    8: {"fewshot": (0.861, 0.222, 743.0), "head": (0.830, 0.207, 92.0), "lora": (0.832, None, 236.0)},
}
DRAWS: dict[int, int] = {8: 1}  # per class -> how many draws each figure is the mean of
ZERO_SHOT: dict[str, float | None] = {"sms": 0.535, "fortunes": 0.282}  # no training: label names against texts
METHOD_NAMES = {"fewshot": "Few-shot (SetFit)", "head": "Head only", "lora": "LoRA"}


@dataclass(frozen=True)
class Expectation:
    method: str  # a tuning method's key
    name: str
    two_class_f1: float | None  # None: not measured
    many_class_f1: float | None
    seconds: float | None


@dataclass(frozen=True)
class Advice:
    smallest_class: str
    smallest_count: int  # its labelled examples
    measured_size: int  # the measured examples per class nearest to the user's
    draws: int  # how many draws of that many examples the figures are the mean of
    expectations: list[Expectation]  # best first
    recommended: str  # a tuning method's key
    zero_shot: tuple[float | None, float | None]  # (two classes, many classes); None: not measured


def class_counts(dataset_dir: Path) -> Counter:
    """Labelled examples per class in a stored dataset, all parts together: what the user has (and what
    cross-validation trains on)."""
    return Counter(read_examples(Path(dataset_dir))["label"])


def advice(counts: Counter, task: str) -> Advice | None:
    """None unless the data are text whose typical class (the median, rounded down) has under FEW_PER_CLASS labelled
    examples (and figures exist)."""
    if task != "text" or not counts or not MEASURED:
        return None
    smallest, count = min(counts.items(), key=lambda item: (item[1], item[0]))
    # The typical class decides: one rare class among large ones is not few-example data (the Data page warns about
    # that class), and switching the whole run to few-shot and cross-validation would not help it.
    typical = statistics.median_low(counts.values())
    if typical >= FEW_PER_CLASS:
        return None
    size = min(MEASURED, key=lambda k: (abs(k - typical), k))
    rows = [Expectation(key, METHOD_NAMES.get(key, key), sms, fortunes, seconds)
            for key, (sms, fortunes, seconds) in MEASURED[size].items()]
    # Recommended: the best over both data sets among the methods measured on both; the others follow (judged on
    # the data sets measured for every method), so a missing figure neither helps nor hurts a method.
    complete = [e for e in rows if e.two_class_f1 is not None and e.many_class_f1 is not None]
    common = [i for i in (0, 1) if all(row[i] is not None for row in MEASURED[size].values())]
    score = lambda e, parts: sum((e.two_class_f1, e.many_class_f1)[i] for i in parts)  # noqa: E731
    complete.sort(key=lambda e: -score(e, (0, 1)))
    rest = sorted((e for e in rows if e not in complete), key=lambda e: -score(e, common))
    rows = complete + rest
    return Advice(smallest, count, size, DRAWS.get(size, 1), rows, rows[0].method,
                  (ZERO_SHOT["sms"], ZERO_SHOT["fortunes"]))
