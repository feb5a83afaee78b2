"""What to expect when classes have few labelled examples, from what was measured (bench/fewshot.py, the few-shot
table in docs/BENCHMARKS.md), and which method to pick.

The figures are macro-F1 on held-out texts with the Quick preset on the bundled MiniLM, the mean over draws of k
training examples per class (DRAWS says how many), on SMS spam (2 classes) and fortunes (26 overlapping classes),
and the training time on the shared 2-core CPU they were measured on. The recommendation is whichever method scored best at the size nearest
the user's, not a fixed name: rerun the benchmark and update MEASURED, and the advice follows.
"""

from __future__ import annotations

import math
import statistics

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from core.datasets.files import read_examples

FEW_PER_CLASS = 20  # a class with fewer labelled examples than this makes the data "few examples"
# per class -> method -> (macro-F1 on SMS spam, macro-F1 on fortunes, training seconds on SMS spam, on fortunes).
# None: not measured. Measured 2026-12-02 with `python -m bench --only fewshot` (bench/fewshot.py: 300 test texts per
# data set, 5 draws of k texts per class, Quick, MiniLM; load average 0.7 to 4.1 on 2 cores, median 2.2).
MEASURED: dict[int, dict[str, tuple[float | None, ...]]] = {
    8: {"fewshot": (0.835, 0.221, 43.0, 68.0), "head": (0.730, 0.223, 4.0, 8.0), "lora": (0.765, 0.206, 8.0, 59.0)},
    16: {"fewshot": (0.892, 0.273, 80.0, 89.0), "head": (0.793, 0.273, 7.0, 14.0), "lora": (0.822, 0.245, 28.0, 114.0)},
}
DRAWS: dict[int, int] = {8: 5, 16: 5}  # per class -> how many draws each figure is the mean of
ZERO_SHOT: dict[str, float | None] = {"sms": 0.535, "fortunes": 0.282}  # no training: label names against texts
METHOD_NAMES = {"fewshot": "Few-shot (SetFit)", "head": "Head only", "lora": "LoRA"}
MANY_CLASSES = 4  # from this many classes on, the many-class figures (fortunes, 26 classes) are the ones to go by
# Macro-F1 means closer than this are a tie (the 5 draws' standard deviations were 0.02 to 0.07): the faster wins.
TIE = 0.01


@dataclass(frozen=True)
class Expectation:
    method: str  # a tuning method's key
    name: str
    two_class_f1: float | None  # None: not measured
    many_class_f1: float | None
    seconds: float | None  # training, on the data set like the user's (two classes: SMS spam; more: fortunes)


@dataclass(frozen=True)
class Advice:
    smallest_class: str
    smallest_count: int  # its labelled examples
    measured_size: int  # the measured examples per class nearest to the user's
    draws: int  # how many draws of that many examples the figures are the mean of
    expectations: list[Expectation]  # best first
    recommended: str  # a tuning method's key
    zero_shot: tuple[float | None, float | None]  # (two classes, many classes); None: not measured
    many_classes: bool  # the user's data have MANY_CLASSES or more: judged on the many-class figures
    zero_shot_leads: bool  # on data like the user's, no training scored at least as well as every method


def class_counts(dataset_dir: Path) -> Counter:
    """Labelled examples per class in a stored dataset, all parts together: what the user has (and what
    cross-validation trains on)."""
    return Counter(read_examples(Path(dataset_dir))["label"])


def advice(counts: Counter, task: str) -> Advice | None:
    """None unless the data are text whose typical class (the median, rounded down) has under FEW_PER_CLASS labelled
    examples (and figures exist). The recommendation is the best macro-F1 measured on the data set like the user's
    (two or three classes: SMS spam; MANY_CLASSES or more: fortunes), the faster of two within TIE; a method not
    measured there is listed after those that were."""
    if task != "text" or not counts or not MEASURED:
        return None
    smallest, count = min(counts.items(), key=lambda item: (item[1], item[0]))
    # The typical class decides: one rare class among large ones is not few-example data (the Data page warns about
    # that class), and switching the whole run to few-shot and cross-validation would not help it.
    typical = statistics.median_low(counts.values())
    if typical >= FEW_PER_CLASS:
        return None
    size = min(MEASURED, key=lambda k: (abs(k - typical), k))
    many = len(counts) >= MANY_CLASSES
    column = 1 if many else 0
    rows = [Expectation(key, METHOD_NAMES.get(key, key), figures[0], figures[1], figures[2 + column])
            for key, figures in MEASURED[size].items()]
    f1 = lambda e: e.many_class_f1 if many else e.two_class_f1  # noqa: E731
    measured = [e for e in rows if f1(e) is not None]
    best = max((f1(e) for e in measured), default=None)
    # best first; within TIE of the best, the faster first; then the rest by score; unmeasured last
    rows = sorted(measured, key=lambda e: (f1(e) < best - TIE, (e.seconds or math.inf) if f1(e) >= best - TIE
                                           else -f1(e))) + [e for e in rows if f1(e) is None]
    zero_shot = (ZERO_SHOT["sms"], ZERO_SHOT["fortunes"])
    leads = best is not None and zero_shot[column] is not None and zero_shot[column] >= best - TIE
    return Advice(smallest, count, size, DRAWS.get(size, 1), rows, rows[0].method, zero_shot, many, leads)


__all__ = ["Advice", "DRAWS", "Expectation", "FEW_PER_CLASS", "MANY_CLASSES", "MEASURED", "ZERO_SHOT", "advice",
           "class_counts"]
