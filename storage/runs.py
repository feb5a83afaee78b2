"""Reading runs as the pages, the CLI and the worker see them: rows, curve points and test predictions.

Rows come back detached (each read opens and closes its own session); a run comes with its dataset loaded,
so the callers read their attributes freely.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from storage.db import session_factory
from storage.models import TEST, MetricPoint, Prediction, Run

LIST_LIMIT = 500  # newest runs a listing returns: the Runs page stays fast with thousands stored


def get_run(run_id: int) -> Run | None:
    """The run row with its dataset loaded."""
    with session_factory()() as s:
        return s.scalar(select(Run).where(Run.id == run_id).options(selectinload(Run.dataset)))


def list_runs(limit: int = LIST_LIMIT, statuses: tuple[str, ...] | None = None) -> list[Run]:
    """Newest first, each with its dataset loaded."""
    query = select(Run).options(selectinload(Run.dataset)).order_by(Run.id.desc()).limit(limit)
    if statuses:
        query = query.where(Run.status.in_(statuses))
    with session_factory()() as s:
        return list(s.scalars(query))


def metric_points(run_id: int) -> list[MetricPoint]:
    """Curve points in recording order."""
    with session_factory()() as s:
        return list(s.scalars(select(MetricPoint).where(MetricPoint.run_id == run_id).order_by(MetricPoint.id)))


def predictions(run_id: int, split: str = TEST) -> list[Prediction]:
    """Per-example predictions on one split ("test" or "val"), in the dataset's example order."""
    with session_factory()() as s:
        return list(s.scalars(select(Prediction).where(Prediction.run_id == run_id, Prediction.split == split)
                              .order_by(Prediction.example_index)))


@dataclass(frozen=True)
class EstimateCheck:
    """What a finished run was expected to take when queued, beside what it took (None where unknown)."""

    estimated_seconds: float | None
    wall_seconds: float | None  # from its start to its saved model (the last attempt, for a resumed run)
    estimated_memory_bytes: int | None
    peak_memory_bytes: int | None
    estimated_epochs: int | None = None  # the planned epochs the estimate is for
    epochs_run: int | None = None  # fewer when early stopping ended the run


def estimate_check(run: Run) -> EstimateCheck | None:
    """None for a run without an estimate (queued before runs kept one) or not finished."""
    estimate, training = run.estimate or {}, run.training or {}
    if not estimate or run.finished_at is None:
        return None
    wall = (run.finished_at - run.started_at).total_seconds() if run.started_at else None
    return EstimateCheck(estimate.get("seconds"), wall, estimate.get("memory_bytes"), training.get("peak_memory_bytes"),
                         estimate.get("epochs"), training.get("epochs_run"))

