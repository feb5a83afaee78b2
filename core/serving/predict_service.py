"""Predictions as the Predict page offers them: one input with its timing, or a whole batch as a table.

The model itself is `core.serving.inference.Predictor` (`predict(inputs) -> [{label: probability}]`); this module
adds what users need around it: the run's decision rule (calibrated confidence, its two-class threshold, the
uncertain mark below its operating point: core.evaluation.decision), the top classes and a result table for a
batch. Uploads to score are read by `core.ingest.unlabeled`, with the Data page's limits and messages.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from core.ingest.report import DataError
from core.evaluation.decision import DecisionRule
from storage.paths import CHECKPOINT_DIR

BATCH_SIZE = 32  # inputs per predict() call; bounds memory for large uploads
# One text or image is predicted with one CPU thread. Idle, two threads save about 3 ms on a short text;
# but while a training run shares the CPU (the normal case on a laptop), threads that wait for each other
# make a prediction 5-10x slower (bench/predict.py; figures in docs/BENCHMARKS.md).
SINGLE_INPUT_THREADS = 1
MAX_BATCH_ROWS = 20_000  # a larger upload is refused: scoring it would block the page for many minutes


class Predictor(Protocol):
    def predict(self, inputs: Sequence[Any]) -> list[dict[str, float]]: ...


@dataclass
class SinglePrediction:
    label: str  # after the run's threshold, for two classes
    probabilities: dict[str, float]  # every class, dataset label order, calibrated
    seconds: float  # wall time of the model call (tokenizing / resizing included)
    uncertain: bool = False  # below the run's operating point: a person should check it

    @property
    def confidence(self) -> float:
        return self.probabilities[self.label]


def predict_one(predictor: Predictor, item: Any, rule: DecisionRule,
                threads: int | None = SINGLE_INPUT_THREADS) -> SinglePrediction:
    """One input; `threads` caps torch's CPU threads for the call (None: leave them as they are)."""
    start = time.perf_counter()
    with cpu_threads(threads):
        (probabilities,) = predictor.predict([item])
    seconds = time.perf_counter() - start
    label, _, uncertain, calibrated = rule.decide_one(probabilities)
    return SinglePrediction(label, calibrated, seconds, uncertain)


@contextmanager
def cpu_threads(count: int | None) -> Iterator[None]:
    """Run the block with at most `count` torch CPU threads (the setting is process-wide, so it is restored)."""
    import torch  # here, not at the top: reading an upload must not pay for importing torch

    before = torch.get_num_threads()
    if count is None or count >= before:
        yield
        return
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def top_classes(probabilities: dict[str, float], k: int = 5) -> pd.DataFrame:
    """The k most probable classes, most probable first (columns: class, probability)."""
    ranked = sorted(probabilities.items(), key=lambda item: item[1], reverse=True)[:k]
    return pd.DataFrame(ranked, columns=["class", "probability"])


def predict_batches(predictor: Predictor, inputs: Sequence[Any],
                    load: Callable[[Any], Any] | None = None) -> Iterator[dict[str, float]]:
    """{label: probability} per input, BATCH_SIZE inputs per model call; `load` turns an input into what the model
    takes (e.g. an uploaded file into an image) one batch at a time, so a large upload is not held decoded."""
    for start in range(0, len(inputs), BATCH_SIZE):
        batch = list(inputs[start:start + BATCH_SIZE])
        yield from predictor.predict([load(item) for item in batch] if load is not None else batch)


RAW_LABEL = "predicted (raw label)"  # a download's key column when classes have display names


def score(predictor: Predictor, inputs: Sequence[Any], rule: DecisionRule,
          shown: Sequence[str] | None = None, load: Callable[[Any], Any] | None = None,
          names: dict[str, str] | None = None) -> pd.DataFrame:
    """One row per input: input (as `shown`, e.g. file names), predicted, confidence, uncertain (below the run's
    operating point), then one calibrated P(class) column each. With display `names` (raw label -> name), classes
    are shown by name and a `predicted (raw label)` column keeps the key a system downstream matches on."""
    if len(inputs) > MAX_BATCH_ROWS:
        raise DataError("too_many_items", f"The upload has {len(inputs):,} items; score at most {MAX_BATCH_ROWS:,} "
                        f"at a time.")
    labels, names = rule.labels, names or {}
    probability_columns = [f"P({names.get(label, label)})" for label in labels]
    rows = []
    for probabilities in predict_batches(predictor, inputs, load):
        predicted, confidence, uncertain, calibrated = rule.decide_one(probabilities)
        rows.append({"predicted": names.get(predicted, predicted), RAW_LABEL: predicted, "confidence": confidence,
                     "uncertain": uncertain, **dict(zip(probability_columns, (calibrated[l] for l in labels)))})
    columns = ["predicted", *([RAW_LABEL] if names else []), "confidence", "uncertain", *probability_columns]
    frame = pd.DataFrame(rows, columns=columns)
    frame.insert(0, "input", list(shown if shown is not None else inputs))
    return frame


def saved_model_stamp(output_dir: Path) -> int:
    """Newest modification time (ns) of the run's saved files: part of the loaded-model cache key, so a
    model saved again (e.g. a run retrained into the same folder) is loaded afresh."""
    output_dir = Path(output_dir)
    files = [p for p in output_dir.rglob("*") if p.is_file() and CHECKPOINT_DIR not in p.relative_to(output_dir).parts]
    return max((p.stat().st_mtime_ns for p in files), default=0)
