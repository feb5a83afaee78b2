"""What to expect when classes have few labelled examples, from what was measured (bench/fewshot.py, the few-shot
table in docs/BENCHMARKS.md), and which method to pick.

The figures are macro-F1 on held-out texts with the Quick preset on the bundled MiniLM, the mean over draws of k
training examples per class (DRAWS says how many), on SMS spam (2 classes) and fortunes (26 overlapping classes),
and the training time on the shared 2-core CPU they were measured on. The recommendation is whichever method scored best at the size nearest
the user's, not a fixed name: rerun the benchmark and update MEASURED, and the advice follows.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from core.datasets.files import read_examples

FEW_PER_CLASS = 20  # a class with fewer labelled examples than this makes the data "few examples"
# per class -> method -> (macro-F1 on SMS spam, macro-F1 on fortunes, training seconds on fortunes; 2 busy CPU cores)
MEASURED: dict[int, dict[str, tuple[float, float, float]]] = {}
DRAWS: dict[int, int] = {}  # per class -> how many draws each figure is the mean of
ZERO_SHOT = {"sms": 0.0, "fortunes": 0.0}  # no training: label names against texts
METHOD_NAMES = {"fewshot": "Few-shot (SetFit)", "head": "Head only", "lora": "LoRA"}


@dataclass(frozen=True)
class Expectation:
    method: str  # a tuning method's key
    name: str
    two_class_f1: float
    many_class_f1: float
    seconds: float


@dataclass(frozen=True)
class Advice:
    smallest_class: str
    smallest_count: int  # its labelled examples
    measured_size: int  # the measured examples per class nearest to the user's
    draws: int  # how many draws of that many examples the figures are the mean of
    expectations: list[Expectation]  # best first
    recommended: str  # a tuning method's key
    zero_shot: tuple[float, float]  # (two classes, many classes)


def class_counts(dataset_dir: Path) -> Counter:
    """Labelled examples per class in a stored dataset, all parts together: what the user has (and what
    cross-validation trains on)."""
    return Counter(read_examples(Path(dataset_dir))["label"])


def advice(counts: Counter, task: str) -> Advice | None:
    """None unless the data are text with a class under FEW_PER_CLASS training examples (and figures exist)."""
    if task != "text" or not counts or not MEASURED:
        return None
    smallest, count = min(counts.items(), key=lambda item: (item[1], item[0]))
    if count >= FEW_PER_CLASS:
        return None
    size = min(MEASURED, key=lambda k: (abs(k - count), k))
    rows = [Expectation(key, METHOD_NAMES.get(key, key), sms, fortunes, seconds)
            for key, (sms, fortunes, seconds) in MEASURED[size].items()]
    rows.sort(key=lambda e: -(e.two_class_f1 + e.many_class_f1))
    return Advice(smallest, count, size, DRAWS.get(size, 1), rows, rows[0].method,
                  (ZERO_SHOT["sms"], ZERO_SHOT["fortunes"]))
