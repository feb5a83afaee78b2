"""What training reports while it runs. The worker turns these into database rows; the CLI prints them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass
class Progress:
    step: int  # optimizer steps done
    total_steps: int
    epoch: float  # fractional, e.g. 1.5 = half-way through the second epoch
    message: str = ""  # the current phase in plain words ("Loading model", "Epoch 2/3", "Evaluating")
    loss: float | None = None
    learning_rate: float | None = None
    samples_per_second: float | None = None
    eta_seconds: float | None = None


class Reporter(Protocol):
    def progress(self, p: Progress) -> None: ...

    def metrics(self, step: int, epoch: float, values: dict[str, float]) -> None:
        """Curves: train_loss every few steps; val_accuracy / val_macro_f1 / val_loss each epoch."""

    def log(self, line: str) -> None: ...

    def should_stop(self) -> bool:
        """True once a cancel was requested; training stops at the next step."""


class NullReporter:
    """Collects nothing; for tests and benchmarks that only want the result."""

    def progress(self, p: Progress) -> None:
        pass

    def metrics(self, step: int, epoch: float, values: dict[str, float]) -> None:
        pass

    def log(self, line: str) -> None:
        pass

    def should_stop(self) -> bool:
        return False
