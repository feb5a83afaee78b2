"""The queue's verbs a worker uses (after huey): claim a run, report its progress, record how it ended.

States (storage.models): queued -> running -> succeeded | failed | cancelled | interrupted.
Only a worker (or the CLI training one run in-process, which acts as its own worker) moves a run between
states, and every write it makes is guarded by `status='running' AND worker_id=<its id>`: a training
process that outlived its worker can never overwrite a run that was since marked interrupted or resumed.
The pages and the CLI only request changes (storage.run_requests).

Every verb opens its own short transaction, so a page, a worker and a training child can share one
SQLite file (WAL) or one PostgreSQL database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import Row, and_, case, delete, insert, or_, select, update

from storage.db import session_factory
from storage.models import (
    CANCELLED, FAILED, INTERRUPTED, QUEUED, RESUMABLE_STATES, RUNNING, SUCCEEDED, TEST, VALIDATION,
    MetricPoint, Prediction, Run, json_safe, utcnow,
)
from storage.paths import data_home
from storage.processes import owner_gone
from storage.run_requests import queued_run


@dataclass(frozen=True)
class FollowUp:
    """A run queued when another finishes: its config (a RunConfig as a dict), name and estimate."""

    config: dict[str, Any]
    name: str
    estimate: dict[str, Any] = field(default_factory=dict)


RUN_STALE_SECONDS = 60.0  # a running run whose heartbeat is older than this belongs to a dead worker
AUTO_RESUME_ATTEMPTS = 5  # a run set to resume automatically is claimed at most this often (a run that kills its
# worker every time must not go round for ever)


def claim_next(worker_id: str) -> tuple[int, bool] | None:
    """Take the oldest queued (or resume-requested) run for `worker_id`: (run_id, resume) or None (claim_oldest)."""
    claimable = or_(Run.status == QUEUED, and_(Run.resume_requested.is_(True), Run.status.in_(RESUMABLE_STATES)))
    row = claim_oldest(Run, claimable, lambda now: dict(
        status=RUNNING, worker_id=worker_id, attempt=Run.attempt + 1, heartbeat_at=now, started_at=now,
        finished_at=None, cancel_requested=False, error="", message="Starting"), Run.resume_requested)
    return None if row is None else (int(row.id), bool(row.resume_requested))


def claim_oldest(table, claimable, values: Callable[[Any], dict[str, Any]], *returning) -> Row | None:
    """Move the oldest row of `table` matching `claimable` to `values(now)`: its (id, *returning) or None.

    Whoever changes the row first owns it, so each row is claimed exactly once across processes and machines.
    Runs and exports (storage.export_queue) are claimed this way.
    - PostgreSQL: one UPDATE of the row that `SELECT ... FOR UPDATE SKIP LOCKED` picks: workers claiming at once
      each lock a different row instead of queueing behind the oldest one.
    - SQLite (one writer at a time): a conditional UPDATE of the oldest candidate. A worker that loses the race
      sees no row and tries the next candidate.
    """
    factory = session_factory()
    if factory.kw["bind"].dialect.name == "postgresql":
        candidate = (select(table.id).where(claimable).order_by(table.id).limit(1)
                     .with_for_update(skip_locked=True).scalar_subquery())
        with factory.begin() as s:
            return s.execute(update(table).where(table.id == candidate).values(**values(utcnow()))
                             .returning(table.id, *returning)).first()
    for _ in range(10):
        candidate = select(table.id).where(claimable).order_by(table.id).limit(1).scalar_subquery()
        with factory.begin() as s:
            row = s.execute(update(table).where(table.id == candidate, claimable).values(**values(utcnow()))
                            .returning(table.id, *returning)).first()
        if row is not None:
            return row
        with factory() as s:
            if s.scalar(select(table.id).where(claimable).limit(1)) is None:
                return None  # nothing left; otherwise another worker won that row: try the next one
    return None


def _owned(run_id: int, worker_id: str):
    return and_(Run.id == run_id, Run.status == RUNNING, Run.worker_id == worker_id)


def report_progress(run_id: int, worker_id: str, *, step: int, total_steps: int, epoch: float, message: str = "",
                    eta_seconds: float | None = None, samples_per_second: float | None = None) -> bool:
    """Store the latest progress. False when the run is no longer this worker's (stop training)."""
    progress = min(1.0, step / total_steps) if total_steps else 0.0
    values: dict[str, Any] = dict(step=step, total_steps=total_steps, epoch=epoch, progress=progress,
                                  eta_seconds=eta_seconds, samples_per_second=samples_per_second, heartbeat_at=utcnow())
    if message:
        values["message"] = message
    with session_factory().begin() as s:
        return s.execute(update(Run).where(_owned(run_id, worker_id)).values(**values)).rowcount == 1


def add_metric_points(run_id: int, points: list[tuple[int, float, str, float]]) -> None:
    """Append curve points: (step, epoch, name, value), e.g. (120, 1.5, "train_loss", 0.31)."""
    if not points:
        return
    rows = [dict(run_id=run_id, step=int(st), epoch=float(ep), name=str(n), value=float(v)) for st, ep, n, v in points]
    with session_factory().begin() as s:
        s.execute(insert(MetricPoint), rows)


def update_config(run_id: int, worker_id: str, config: dict[str, Any]) -> None:
    """The worker changed the settings (e.g. a smaller batch after running out of GPU memory)."""
    with session_factory().begin() as s:
        s.execute(update(Run).where(_owned(run_id, worker_id)).values(config=json_safe(config)))


def is_cancel_requested(run_id: int) -> bool:
    with session_factory()() as s:
        return bool(s.scalar(select(Run.cancel_requested).where(Run.id == run_id)))


def cancel_requested_among(run_ids: list[int]) -> set[int]:
    if not run_ids:
        return set()
    with session_factory()() as s:
        return set(s.scalars(select(Run.id).where(Run.id.in_(run_ids), Run.cancel_requested.is_(True))))


def finish(run_id: int, worker_id: str, *, metrics: dict[str, Any], predictions: list[dict[str, Any]],
           trainable_params: int | None, total_params: int | None, train_seconds: float | None,
           samples_per_second: float | None, device: str, artifact_dir: Path | str, size_bytes: int | None,
           threshold: float | None = None, training: dict[str, Any] | None = None,
           validation_predictions: list[dict[str, Any]] = (), calibration: dict[str, Any] | None = None,
           then: FollowUp | None = None) -> bool:
    """Record a successful run: test metrics, per-example test and validation predictions, the calibration
    fitted on validation, sizes and timings, and `training`: the settings the run resolved to and how many
    epochs and steps it trained. `then`: a run to queue in the same transaction (core/methods/quick_choice.py),
    so it exists exactly when this run is recorded as finished."""
    artifact = Path(artifact_dir)
    if artifact.is_absolute() and artifact.is_relative_to(data_home()):
        artifact = artifact.relative_to(data_home())  # stored relative, so the data folder can move
    rows = prediction_rows(run_id, TEST, predictions) + prediction_rows(run_id, VALIDATION, validation_predictions)
    with session_factory().begin() as s:
        done = s.execute(update(Run).where(_owned(run_id, worker_id)).values(
            status=SUCCEEDED, progress=1.0, eta_seconds=0.0, finished_at=utcnow(), heartbeat_at=utcnow(),
            metrics=json_safe(metrics), trainable_params=trainable_params, total_params=total_params,
            train_seconds=train_seconds, samples_per_second=samples_per_second, device=device,
            artifact_dir=str(artifact), size_bytes=size_bytes, threshold=threshold, training=json_safe(training or {}),
            calibration=json_safe(calibration or {}), min_confidence=None,
            message="Finished", error="", resume_requested=False, cancel_requested=False,
        )).rowcount == 1
        if done:
            s.execute(delete(Prediction).where(Prediction.run_id == run_id))
            if rows:
                s.execute(insert(Prediction), rows)
            if then is not None:
                parent = s.execute(select(Run.dataset_id, Run.auto_resume).where(Run.id == run_id)).one()
                s.add(queued_run(parent.dataset_id, then.config, then.name, then.estimate, parent.auto_resume))
        return done


def prediction_rows(run_id: int, split: str, predictions: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Prediction table rows from the dicts training makes (example_index, true_label, predicted_label,
    confidence, probabilities)."""
    return [dict(run_id=run_id, split=split, example_index=int(p["example_index"]), true_label=str(p["true_label"]),
                 predicted_label=str(p["predicted_label"]), confidence=float(p["confidence"]),
                 probabilities=[float(x) for x in p.get("probabilities", [])]) for p in predictions]


def _end(run_id: int, worker_id: str | None, status: str, message: str, error: str = "",
         resume: Any = False) -> bool:
    where = _owned(run_id, worker_id) if worker_id else and_(Run.id == run_id, Run.status == RUNNING)
    with session_factory().begin() as s:
        return s.execute(update(Run).where(where).values(
            status=status, finished_at=utcnow(), message=message, error=error, eta_seconds=None,
            resume_requested=resume, cancel_requested=False,
        )).rowcount == 1


def fail(run_id: int, worker_id: str | None, error: str) -> bool:
    """Record a failure: `error` is one plain sentence; the details belong in the run's log."""
    return _end(run_id, worker_id, FAILED, "Failed", error)


def mark_cancelled(run_id: int, worker_id: str | None) -> bool:
    return _end(run_id, worker_id, CANCELLED, "Cancelled")


def mark_interrupted(run_id: int, worker_id: str | None, reason: str) -> bool:
    """The run's worker died or stopped. A run set to resume automatically (and claimed fewer than
    AUTO_RESUME_ATTEMPTS times) is left resume-requested in the same write, so any worker takes it."""
    again = and_(Run.auto_resume.is_(True), Run.attempt < AUTO_RESUME_ATTEMPTS)
    message = case((again, reason + " Resuming it automatically on the next free worker."), else_=reason)
    return _end(run_id, worker_id, INTERRUPTED, message, resume=case((again, True), else_=False))


def interrupt_orphaned_runs(stale_seconds: float = RUN_STALE_SECONDS) -> list[int]:
    """Mark `interrupted` every running run whose worker is dead (gone from this host, or silent too long)."""
    cutoff = utcnow() - timedelta(seconds=stale_seconds)
    with session_factory()() as s:
        running = s.execute(select(Run.id, Run.worker_id, Run.heartbeat_at).where(Run.status == RUNNING)).all()
    orphaned = []
    for run_id, worker_id, heartbeat_at in running:
        if owner_gone(worker_id, heartbeat_at, cutoff):
            reason = "Interrupted: its worker stopped. Resume it from the last checkpoint or retry it."
            if mark_interrupted(run_id, worker_id, reason):
                orphaned.append(run_id)
    return orphaned
