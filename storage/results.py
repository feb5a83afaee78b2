"""Reading a finished run's results as the Results, Compare and Predict pages need them (and saving its
decision threshold, operating point and re-evaluated validation predictions). Rows come from storage/runs.py;
here they become frames and summaries.
Each function opens and closes its own short session, so pages can call them directly. No torch, no core.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import delete, func, insert, select

from storage import run_queue, runs
from storage.db import session_factory
from storage.models import SUCCEEDED, TEST, VALIDATION, Dataset, MetricPoint, Prediction, Run, json_safe
from storage.paths import data_home

PREDICTION_COLUMNS = ["example_index", "true_label", "predicted_label", "confidence", "probabilities"]
POINT_COLUMNS = ["step", "epoch", "name", "value"]


@dataclass
class RunResult:
    """A finished run as the Results, Compare and Predict pages see it."""

    id: int
    name: str
    status: str
    dataset_id: int
    dataset_name: str
    task: str  # "text" | "image"
    labels: list[str]
    dataset_path: str  # relative to the data home
    config: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    threshold: float | None = None  # stored on P(labels[1]); see core/evaluation/threshold.py
    calibration: dict[str, Any] = field(default_factory=dict)  # core.evaluation.calibration.Calibration
    min_confidence: float | None = None  # the operating point; see core/evaluation/decision.py
    training: dict[str, Any] = field(default_factory=dict)  # what the preset resolved to and how far training went
    artifact_dir: str = ""  # relative to the data home
    train_seconds: float | None = None
    trainable_params: int | None = None
    total_params: int | None = None
    size_bytes: int | None = None
    device: str = ""
    finished_at: datetime | None = None
    display_names: dict[str, str] = field(default_factory=dict)  # raw label -> the name people read

    def shown(self, label: str) -> str:
        """How a class is shown: its display name, or the raw label when it has none."""
        return self.display_names.get(label, label)

    @property
    def label_names(self) -> list[str]:
        """The display names in label order (the raw labels stay the keys)."""
        return [self.shown(label) for label in self.labels]

    @property
    def model(self) -> str:
        return str(self.config.get("model", ""))

    @property
    def method(self) -> str:
        return str(self.config.get("method", ""))

    @property
    def title(self) -> str:
        """How a run is named in pickers: '#12 sms · minilm · lora — first try'."""
        label = f"#{self.id} {self.dataset_name} · {self.model} · {self.method}"
        # A name adds something only when it is more than the model and method again (the CLI's default).
        extra = self.name and not (self.model in self.name and self.method in self.name)
        return f"{label} — {self.name}" if extra else label

    @property
    def dataset_dir(self) -> Path:
        return data_home() / self.dataset_path

    @property
    def output_dir(self) -> Path:
        return data_home() / self.artifact_dir


def _result(run: Run, dataset: Dataset) -> RunResult:
    return RunResult(
        id=run.id, name=run.name, status=run.status, dataset_id=dataset.id, dataset_name=dataset.name,
        task=dataset.task, labels=list(dataset.labels), dataset_path=dataset.path, config=dict(run.config or {}),
        metrics=dict(run.metrics or {}), threshold=run.threshold, calibration=dict(run.calibration or {}),
        min_confidence=run.min_confidence, training=dict(run.training or {}), artifact_dir=run.artifact_dir,
        train_seconds=run.train_seconds, trainable_params=run.trainable_params, total_params=run.total_params,
        size_bytes=run.size_bytes, device=run.device, finished_at=run.finished_at,
        display_names={str(k): str(v) for k, v in (dataset.display_names or {}).items()},
    )


def finished_runs(dataset_id: int | None = None) -> list[RunResult]:
    """Succeeded runs, newest first (optionally only those of one dataset)."""
    query = select(Run, Dataset).join(Dataset, Run.dataset_id == Dataset.id).where(Run.status == SUCCEEDED)
    if dataset_id is not None:
        query = query.where(Run.dataset_id == dataset_id)
    with session_factory()() as s:
        return [_result(run, dataset) for run, dataset in s.execute(query.order_by(Run.id.desc())).all()]


def run_result(run_id: int) -> RunResult | None:
    with session_factory()() as s:
        row = s.execute(select(Run, Dataset).join(Dataset, Run.dataset_id == Dataset.id)
                        .where(Run.id == run_id)).first()
        return _result(*row) if row else None


def run_predictions(run_id: int, split: str = TEST) -> pd.DataFrame:
    """The run's per-example predictions on one split ("test" judges, "val" chooses), ordered by example
    (columns: PREDICTION_COLUMNS). Empty for a run stored before validation predictions were kept."""
    records = [{c: getattr(row, c) for c in PREDICTION_COLUMNS} for row in runs.predictions(run_id, split)]
    return pd.DataFrame(records, columns=PREDICTION_COLUMNS)


def save_validation(run_id: int, predictions: list[dict[str, Any]], calibration: dict[str, Any],
                    threshold: float | None) -> None:
    """Store a re-evaluated run's validation predictions, the calibration fitted on them and its two-class
    threshold moved onto the calibrated probabilities (its test predictions and metrics stay as they are).
    Replaces any earlier validation predictions, in one transaction."""
    rows = run_queue.prediction_rows(run_id, VALIDATION, predictions)
    with session_factory().begin() as s:
        run = s.get(Run, run_id)
        if run is None:
            raise LookupError(f"There is no run #{run_id}.")
        s.execute(delete(Prediction).where(Prediction.run_id == run_id, Prediction.split == VALIDATION))
        if rows:
            s.execute(insert(Prediction), rows)
        run.calibration = json_safe(calibration)
        run.threshold = threshold


def dataset_target(dataset_id: int) -> dict[str, Any]:
    """The target set for a dataset's runs ({} when none): {"metric", "value", "label"}."""
    with session_factory()() as s:
        dataset = s.get(Dataset, dataset_id)
        return dict(dataset.target or {}) if dataset is not None else {}


def save_display_names(dataset_id: int, names: dict[str, str]) -> None:
    """Keep a dataset's display names (raw label -> name; core.datasets.label_names.check_names made them)."""
    with session_factory().begin() as s:
        dataset = s.get(Dataset, dataset_id)
        if dataset is not None:
            dataset.display_names = dict(names)


def save_dataset_target(dataset_id: int, target: dict[str, Any]) -> None:
    """Keep the target with the dataset, so every run of it (and the next visit) is judged against it."""
    with session_factory().begin() as s:
        dataset = s.get(Dataset, dataset_id)
        if dataset is None:
            raise LookupError(f"There is no dataset #{dataset_id}.")
        dataset.target = json_safe(target)


def save_min_confidence(run_id: int, min_confidence: float | None) -> None:
    """Store the operating point (a calibrated probability); None: every answer is given without a flag."""
    _set_on_run(run_id, min_confidence=_probability_or_none(min_confidence, "An operating point"))


def _probability_or_none(value: float | None, what: str) -> float | None:
    if value is not None and not 0.0 <= value <= 1.0:
        raise ValueError(f"{what} is a probability between 0 and 1, not {value}.")
    return None if value is None else float(value)


def _set_on_run(run_id: int, **values: Any) -> None:
    with session_factory().begin() as s:
        run = s.get(Run, run_id)
        if run is None:
            raise LookupError(f"There is no run #{run_id}.")
        for name, value in values.items():
            setattr(run, name, value)


def metric_points(run_id: int) -> pd.DataFrame:
    """Curves recorded while training (columns: step, epoch, name, value), in recording order."""
    records = [{c: getattr(row, c) for c in POINT_COLUMNS} for row in runs.metric_points(run_id)]
    return pd.DataFrame(records, columns=POINT_COLUMNS)


def best_validation_f1(run_id: int) -> float | None:
    """The best epoch's validation macro-F1 (the epoch whose weights the run kept); None without validation."""
    with session_factory()() as s:
        return s.scalar(select(func.max(MetricPoint.value)).where(MetricPoint.run_id == run_id,
                                                                   MetricPoint.name == "val_macro_f1"))


def save_threshold(run_id: int, threshold: float | None) -> None:
    """Store the two-class decision threshold (on P(labels[1])); None goes back to the most probable class."""
    _set_on_run(run_id, threshold=_probability_or_none(threshold, "A threshold"))
