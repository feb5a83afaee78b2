"""Test helpers for the job queue: a stored dataset and a real, tiny torch training loop with train_run's signature.

`train_tiny` trains a linear layer on hashed character features of the stored examples, honours the reporter
(progress, curves, log, should_stop), checkpoints model + optimizer every few steps under
output_dir/checkpoint/ and continues from there when resume=True — the contract of core.training.train_run —
but in a fraction of a second, so queue and worker tests stay fast. Knobs, from the run's config:
  epochs          10 steps per epoch (default 2 epochs)
  model           "crash" exits the process hard; "oom" raises torch.OutOfMemoryError while batch_size > 4;
                  "stubborn" ignores should_stop (a step that never looks at the cancel flag)
env TINY_STEP_SECONDS   sleep per step (default 0.01), to make runs last long enough to cancel or kill
Double claims show: a process that starts training a run while another process still trains it leaves an
`overlap_<pid>` file in the run folder (a lock held while training tells; the kernel drops it when a process dies).
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.training.progress import Progress
from core.run_config import RunConfig
from storage.db import session_factory
from storage.models import Dataset
from storage.paths import RunFiles, datasets_dir

STEPS_PER_EPOCH = 10
CHECKPOINT_EVERY = 5


def make_dataset(name: str = "tiny", rows: int = 30) -> int:
    """A stored text dataset (row + examples.csv) with two classes, written the way ingestion stores one."""
    import pandas as pd  # here, not at the top: tests.instant_training's processes start without pandas

    from core.datasets.files import write_examples

    with session_factory().begin() as s:
        dataset = Dataset(name=name, task="text", labels=["ham", "spam"], num_examples=rows)
        s.add(dataset)
        s.flush()
        dataset_id = dataset.id
        folder = datasets_dir() / str(dataset_id)
        folder.mkdir(parents=True)
        splits = ["train"] * (rows // 2) + ["val"] * (rows // 4) + ["test"] * (rows - rows // 2 - rows // 4)
        frame = pd.DataFrame({
            "input": [("win cash now" if i % 2 else "see you at lunch") + f" {i}" for i in range(rows)],
            "label": ["spam" if i % 2 else "ham" for i in range(rows)],
            "split": splits, "source": [str(i + 2) for i in range(rows)],
        })
        write_examples(folder, frame)
        dataset.path = str(folder.relative_to(datasets_dir().parent))
        dataset.split_counts = frame["split"].value_counts().to_dict()
    return dataset_id


@dataclass
class TinyResult:
    """Same fields as core.training.TrainResult."""

    metrics: dict[str, Any]
    predictions: list[dict[str, Any]]
    trainable_params: int
    total_params: int
    train_seconds: float
    samples_per_second: float
    device: str = "cpu"
    size_bytes: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    validation_predictions: list[dict[str, Any]] = field(default_factory=list)
    calibration: dict[str, Any] = field(default_factory=dict)


class Cancelled(Exception):
    pass


def _features(texts: list[str]):
    import torch

    x = torch.zeros(len(texts), 16)
    for i, text in enumerate(texts):
        for ch in text:
            x[i, ord(ch) % 16] += 1.0
    return x / 10


@contextmanager
def only_trainer(output_dir: Path) -> Iterator[None]:
    """Hold the run folder's training lock; if another live process holds it, leave an overlap_<pid> marker."""
    output_dir.mkdir(parents=True, exist_ok=True)
    with (output_dir / "training.lock").open("a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            (output_dir / f"overlap_{os.getpid()}").touch()
        yield


def train_tiny(dataset_dir: Path, labels: list[str], task: str, config: RunConfig, output_dir: Path, reporter,
               resume: bool = False) -> TinyResult:
    with only_trainer(output_dir):
        return _train_tiny(dataset_dir, labels, task, config, output_dir, reporter, resume)


def _train_tiny(dataset_dir: Path, labels: list[str], task: str, config: RunConfig, output_dir: Path, reporter,
                resume: bool) -> TinyResult:
    import pandas as pd
    import torch

    if config.model == "crash":
        os._exit(7)  # a hard crash: no Python error, no outcome recorded
    if config.model == "oom" and (config.batch_size or 0) > 4:
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
    torch.manual_seed(config.seed)
    frame = pd.read_csv(dataset_dir / "examples.csv", dtype=str, keep_default_na=False)
    train, test = frame[frame.split == "train"], frame[frame.split == "test"]
    x, y = _features(list(train.input)), torch.tensor([labels.index(v) for v in train.label])
    model = torch.nn.Linear(16, len(labels))
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate or 0.1)
    total = STEPS_PER_EPOCH * (config.epochs or 2)
    checkpoint = RunFiles(output_dir).checkpoint / "state.pt"
    start_step = 0
    if resume and checkpoint.exists():
        state = torch.load(checkpoint, weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start_step = int(state["step"])
        reporter.log(f"Resumed from step {start_step}")
    step_seconds = float(os.environ.get("TINY_STEP_SECONDS", "0.01"))
    started = time.perf_counter()
    reporter.progress(Progress(step=start_step, total_steps=total, epoch=start_step / STEPS_PER_EPOCH, message="Training"))
    for step in range(start_step + 1, total + 1):
        if config.model != "stubborn" and reporter.should_stop():
            raise Cancelled("stopped at the user's request")
        loss = torch.nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        time.sleep(step_seconds)
        epoch = step / STEPS_PER_EPOCH
        reporter.progress(Progress(step=step, total_steps=total, epoch=epoch, message="Training", loss=loss.item(),
                                   eta_seconds=(total - step) * step_seconds, samples_per_second=len(train) / step_seconds))
        reporter.metrics(step, epoch, {"train_loss": loss.item()})
        if step % STEPS_PER_EPOCH == 0:
            reporter.metrics(step, epoch, {"val_accuracy": 0.5 + 0.5 * step / total})
        if step % CHECKPOINT_EVERY == 0:
            checkpoint.parent.mkdir(parents=True, exist_ok=True)
            # Written aside and renamed, as core/training/checkpoint.py does: a kill -9 in the middle of the write
            # (the chaos test's) must leave the previous checkpoint whole, not a truncated one to resume from.
            partial = checkpoint.with_suffix(".tmp")
            torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step}, partial)
            os.replace(partial, checkpoint)
    (output_dir / f"executed_by_{os.getpid()}").touch()  # lets tests count how often a run really trained
    with torch.no_grad():
        probabilities = torch.softmax(model(_features(list(test.input))), dim=1)
    predictions = [
        {"example_index": int(i), "true_label": true, "predicted_label": labels[int(p.argmax())],
         "confidence": float(p.max()), "probabilities": p.tolist()}
        for i, true, p in zip(test.index, test.label, probabilities)
    ]
    accuracy = sum(p["true_label"] == p["predicted_label"] for p in predictions) / max(1, len(predictions))
    seconds = time.perf_counter() - started
    return TinyResult(
        metrics={"accuracy": accuracy, "macro_f1": accuracy, "resumed_from_step": start_step, "steps": total,
                 "batch_size": config.batch_size, "grad_accum": config.grad_accum},
        predictions=predictions, trainable_params=16 * len(labels) + len(labels),
        total_params=16 * len(labels) + len(labels), train_seconds=seconds,
        samples_per_second=len(train) * (total - start_step) / max(seconds, 1e-9))

