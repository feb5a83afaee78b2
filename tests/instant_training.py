"""The smallest real run, for queue drains by the hundred (tests/test_queue_scale.py, bench/queue.py):
`train_instant` has core.training.train_run's signature, imports neither torch nor pandas (a training process
then costs little more than Python and the job code starting), predicts the training split's majority class on
the test split, and marks its run folder like tests.tiny_training.train_tiny (executed_by_<pid>, or overlap_<pid>
when another live process trains the same run)."""

from __future__ import annotations

import csv
import os
from collections import Counter
from pathlib import Path
from typing import Any

from core.training.progress import Progress
from tests.tiny_training import TinyResult, only_trainer


def train_instant(dataset_dir: Path, labels: list[str], task: str, config: Any, output_dir: Path, reporter,
                  resume: bool = False) -> TinyResult:
    with only_trainer(output_dir), (dataset_dir / "examples.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    majority = Counter(r["label"] for r in rows if r["split"] == "train").most_common(1)[0][0]
    reporter.progress(Progress(step=1, total_steps=1, epoch=1.0, message="Training"))
    (output_dir / f"executed_by_{os.getpid()}").touch()
    predictions = [{"example_index": i, "true_label": r["label"], "predicted_label": majority, "confidence": 1.0,
                    "probabilities": [float(label == majority) for label in labels]}
                   for i, r in enumerate(rows) if r["split"] == "test"]
    accuracy = sum(p["true_label"] == majority for p in predictions) / max(1, len(predictions))
    return TinyResult(metrics={"accuracy": accuracy, "macro_f1": accuracy, "resumed_from_step": 0, "steps": 1},
                      predictions=predictions, trainable_params=0, total_params=0, train_seconds=0.0,
                      samples_per_second=0.0)
