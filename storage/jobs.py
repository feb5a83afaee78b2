"""The job store: a handful of verbs over the `runs` table (after huey's queue).

States (storage.models): queued -> running -> succeeded | failed | cancelled | interrupted.
Only a worker (or the CLI running one run in-process, which acts as its own worker) moves a run between
states, and every write it makes is guarded by `status='running' AND worker_id=<its id>`: a training
process that outlived its worker can never overwrite a run that was since marked interrupted or resumed.
Pages and the CLI *request* things: a cancel, a resume, a retry or a clone (a new queued run).

Every verb opens its own short transaction, so a page, a worker and a training child can share one
SQLite file (WAL) or one PostgreSQL database.
"""

from __future__ import annotations

import json
import os
import socket
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psutil
from sqlalchemy import and_, delete, insert, or_, select, update
from sqlalchemy.orm import Session, selectinload

from storage.db import session_factory
from storage.models import (
    CANCELLED, FAILED, FINAL_STATES, INTERRUPTED, QUEUED, RUNNING, SUCCEEDED,
    Dataset, MetricPoint, Prediction, Run, Worker, utcnow,
)
from storage.paths import data_home, runs_dir
from storage.removal import removed_with

RESUMABLE_STATES = (INTERRUPTED, CANCELLED, FAILED)
RETRYABLE_STATES = (INTERRUPTED, CANCELLED, FAILED, SUCCEEDED)
RUN_STALE_SECONDS = 60.0  # a running run whose heartbeat is older than this belongs to a dead worker
WORKER_STALE_SECONDS = 30.0  # a worker row whose heartbeat is older than this is not alive
LOG_FILE = "train.log"
CHECKPOINT_DIR = "checkpoint"  # written by core.training.train_run under the run folder


class JobError(ValueError):
    """A request the user must change: one plain sentence in the message, a stable `code` for programs."""

    def __init__(self, message: str, code: str):
        super().__init__(message)
        self.code = code


# ---------------------------------------------------------------- identities and paths


def process_identity(pid: int | None = None) -> str:
    """`host:pid:start` — names a worker (or CLI) process and tells a dead one from a reused pid."""
    process = psutil.Process(pid or os.getpid())
    return f"{socket.gethostname()}:{process.pid}:{int(process.create_time())}"


def process_alive(identity: str) -> bool | None:
    """True / False for a process on this host; None when it runs elsewhere (only its heartbeat tells)."""
    try:
        host, pid, start = identity.rsplit(":", 2)
        pid_number, start_number = int(pid), int(start)
    except ValueError:
        return None
    if host != socket.gethostname():
        return None
    try:
        process = psutil.Process(pid_number)
        return int(process.create_time()) == start_number and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def run_dir(run_id: int) -> Path:
    """Everything of one run: train.log, checkpoint/, model/, adapter/."""
    return runs_dir() / str(run_id)


def log_path(run_id: int) -> Path:
    return run_dir(run_id) / LOG_FILE


def log_tail(run_id: int, lines: int = 40) -> str:
    path = log_path(run_id)
    if not path.exists():
        return ""
    with path.open("rb") as f:  # read only the end: a long run's log can be large
        f.seek(0, os.SEEK_END)
        f.seek(max(0, f.tell() - 200 * lines))
        text = f.read().decode("utf-8", errors="replace")
    return "\n".join(text.splitlines()[-lines:])


def has_checkpoint(run_id: int) -> bool:
    folder = run_dir(run_id) / CHECKPOINT_DIR
    return folder.is_dir() and any(folder.iterdir())


def _session() -> Session:
    return session_factory()()


def _plain(value: Any) -> Any:
    """JSON-safe copy (numpy scalars and arrays from training become floats and lists)."""
    def default(o: Any) -> Any:
        if hasattr(o, "tolist"):
            return o.tolist()
        return str(o)
    return json.loads(json.dumps(value, default=default))


# ---------------------------------------------------------------- requests (pages, CLI)


def enqueue(dataset_id: int, config: dict[str, Any], name: str = "") -> int:
    return _insert_run(dataset_id, config, name)


def enqueue_claimed(dataset_id: int, config: dict[str, Any], worker_id: str, name: str = "") -> int:
    """A run created already running under `worker_id`: the CLI trains it in-process, so no worker may take it.

    One INSERT: the row is never queued, not even for an instant a worker could claim it in.
    """
    return _insert_run(dataset_id, config, name, worker_id)


def _insert_run(dataset_id: int, config: dict[str, Any], name: str, worker_id: str | None = None) -> int:
    with _session() as s, s.begin():
        if s.get(Dataset, dataset_id) is None:
            raise JobError(f"Dataset {dataset_id} does not exist; upload it on the Data page first.", "no_dataset")
        run = Run(dataset_id=dataset_id, config=_plain(config), name=name, status=QUEUED, message="Waiting for a worker")
        if worker_id is not None:
            now = utcnow()
            run.status, run.worker_id, run.attempt, run.message = RUNNING, worker_id, 1, "Starting"
            run.started_at = run.heartbeat_at = now
        s.add(run)
        s.flush()
        return run.id


def request_cancel(run_id: int) -> str:
    """Cancel a run. A queued run is cancelled at once; a running one is stopped by its worker within seconds.

    Returns the run's status after the request.
    """
    with _session() as s, s.begin():
        done = s.execute(update(Run).where(Run.id == run_id, Run.status == QUEUED).values(
            status=CANCELLED, finished_at=utcnow(), message="Cancelled before it started", resume_requested=False))
        if done.rowcount:
            return CANCELLED
        running = s.execute(update(Run).where(Run.id == run_id, Run.status == RUNNING).values(
            cancel_requested=True, message="Cancelling"))
        if running.rowcount:
            return RUNNING
        status = s.scalar(select(Run.status).where(Run.id == run_id))
    if status is None:
        raise JobError(f"There is no run {run_id}.", "no_run")
    raise JobError(f"Run {run_id} is already {status}; only queued or running runs can be cancelled.", "not_active")


def request_resume(run_id: int) -> None:
    """Ask a worker to continue a stopped run from its last checkpoint (optimizer state included)."""
    with _session() as s:
        run = s.get(Run, run_id)
        if run is None:
            raise JobError(f"There is no run {run_id}.", "no_run")
        if run.status not in RESUMABLE_STATES:
            raise JobError(f"Run {run_id} is {run.status}; only interrupted, cancelled or failed runs can be resumed.", "not_resumable")
    if not has_checkpoint(run_id):
        raise JobError(f"Run {run_id} has no checkpoint to resume from; use Retry to train it again from the start.", "no_checkpoint")
    with _session() as s, s.begin():
        s.execute(update(Run).where(Run.id == run_id, Run.status.in_(RESUMABLE_STATES)).values(
            resume_requested=True, cancel_requested=False, message="Waiting for a worker to resume it"))


def clone_run(run_id: int, config: dict[str, Any] | None = None, name: str | None = None) -> int:
    """Queue a new run on the same dataset, with the same config unless `config` is given."""
    with _session() as s:
        run = s.get(Run, run_id)
        if run is None:
            raise JobError(f"There is no run {run_id}.", "no_run")
        dataset_id, old_config, old_name = run.dataset_id, dict(run.config), run.name
    return enqueue(dataset_id, config if config is not None else old_config, name if name is not None else old_name)


def retry_run(run_id: int) -> int:
    """Train a finished or stopped run again from the start, as a new queued run with the same settings."""
    run = get_run(run_id)
    if run is None:
        raise JobError(f"There is no run {run_id}.", "no_run")
    if run.status not in RETRYABLE_STATES:
        raise JobError(f"Run {run_id} is still {run.status}; wait for it to finish or cancel it first.", "still_active")
    return clone_run(run_id, name=f"Retry of run {run_id}" + (f": {run.name}" if run.name else ""))


def delete_run(run_id: int) -> None:
    """Delete a finished run: its row, curve points and test predictions, and its folder (model, log, checkpoint).

    Queued and running runs are refused: cancel them first. A guarded UPDATE takes the write lock before anything
    is touched, so no worker can claim the run (for a resume) until the commit; only then are the folders moved
    aside with the rows (storage.removal.removed_with: put back if the commit fails).
    """
    with _session() as s:
        row = s.execute(select(Run.status, Run.artifact_dir).where(Run.id == run_id)).first()
    if row is None:
        raise JobError(f"There is no run {run_id}.", "no_run")
    if row.status not in FINAL_STATES:
        raise JobError(f"Run {run_id} is {row.status}; cancel it first, then delete it.", "still_active")
    folders = [run_dir(run_id)] + ([data_home() / row.artifact_dir] if row.artifact_dir else [])
    with _session() as s:  # closing without a commit rolls back
        still_final = Run.id == run_id, Run.status.in_(FINAL_STATES)
        if not s.execute(update(Run).where(*still_final).values(status=Run.status)).rowcount:
            # A worker took it (a resume) after the check above.
            raise JobError(f"Run {run_id} was just started again; cancel it first, then delete it.", "still_active")
        with removed_with(folders, s):
            s.execute(delete(MetricPoint).where(MetricPoint.run_id == run_id))
            s.execute(delete(Prediction).where(Prediction.run_id == run_id))
            s.execute(delete(Run).where(Run.id == run_id))


# ---------------------------------------------------------------- the worker's verbs


def claim_next(worker_id: str) -> tuple[int, bool] | None:
    """Take the oldest queued (or resume-requested) run for `worker_id`: (run_id, resume) or None.

    One conditional UPDATE: whoever changes the row first owns it. A worker that loses the race sees no row
    (SQLite serialises writers; PostgreSQL re-checks the WHERE clause after waiting for the row lock) and
    tries the next candidate, so each run is claimed exactly once across processes and machines.
    """
    claimable = or_(Run.status == QUEUED, and_(Run.resume_requested.is_(True), Run.status.in_(RESUMABLE_STATES)))
    for _ in range(10):
        now = utcnow()
        candidate = select(Run.id).where(claimable).order_by(Run.id).limit(1).scalar_subquery()
        with _session() as s, s.begin():
            row = s.execute(
                update(Run).where(Run.id == candidate, claimable).values(
                    status=RUNNING, worker_id=worker_id, attempt=Run.attempt + 1, heartbeat_at=now,
                    started_at=now, finished_at=None, cancel_requested=False, error="", message="Starting",
                ).returning(Run.id, Run.resume_requested)
            ).first()
        if row is not None:
            return int(row.id), bool(row.resume_requested)
        with _session() as s:
            if s.scalar(select(Run.id).where(claimable).limit(1)) is None:
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
    with _session() as s, s.begin():
        return s.execute(update(Run).where(_owned(run_id, worker_id)).values(**values)).rowcount == 1


def add_metric_points(run_id: int, points: list[tuple[int, float, str, float]]) -> None:
    """Append curve points: (step, epoch, name, value), e.g. (120, 1.5, "train_loss", 0.31)."""
    if not points:
        return
    rows = [dict(run_id=run_id, step=int(st), epoch=float(ep), name=str(n), value=float(v)) for st, ep, n, v in points]
    with _session() as s, s.begin():
        s.execute(insert(MetricPoint), rows)


def update_config(run_id: int, worker_id: str, config: dict[str, Any]) -> None:
    """The worker changed the settings (e.g. a smaller batch after running out of GPU memory)."""
    with _session() as s, s.begin():
        s.execute(update(Run).where(_owned(run_id, worker_id)).values(config=_plain(config)))


def is_cancel_requested(run_id: int) -> bool:
    with _session() as s:
        return bool(s.scalar(select(Run.cancel_requested).where(Run.id == run_id)))


def cancel_requested_among(run_ids: list[int]) -> set[int]:
    if not run_ids:
        return set()
    with _session() as s:
        return set(s.scalars(select(Run.id).where(Run.id.in_(run_ids), Run.cancel_requested.is_(True))))


def finish(run_id: int, worker_id: str, *, metrics: dict[str, Any], predictions: list[dict[str, Any]],
           trainable_params: int | None, total_params: int | None, train_seconds: float | None,
           samples_per_second: float | None, device: str, artifact_dir: Path | str, size_bytes: int | None,
           threshold: float | None = None, training: dict[str, Any] | None = None) -> bool:
    """Record a successful run: test metrics, per-example predictions, sizes and timings, and `training`: the
    settings the run resolved to and how many epochs and steps it trained."""
    artifact = Path(artifact_dir)
    if artifact.is_absolute() and artifact.is_relative_to(data_home()):
        artifact = artifact.relative_to(data_home())  # stored relative, so the data folder can move
    rows = [dict(run_id=run_id, example_index=int(p["example_index"]), true_label=str(p["true_label"]),
                 predicted_label=str(p["predicted_label"]), confidence=float(p["confidence"]),
                 probabilities=[float(x) for x in p.get("probabilities", [])]) for p in predictions]
    with _session() as s, s.begin():
        done = s.execute(update(Run).where(_owned(run_id, worker_id)).values(
            status=SUCCEEDED, progress=1.0, eta_seconds=0.0, finished_at=utcnow(), heartbeat_at=utcnow(),
            metrics=_plain(metrics), trainable_params=trainable_params, total_params=total_params,
            train_seconds=train_seconds, samples_per_second=samples_per_second, device=device,
            artifact_dir=str(artifact), size_bytes=size_bytes, threshold=threshold, training=_plain(training or {}),
            message="Finished", error="", resume_requested=False, cancel_requested=False,
        )).rowcount == 1
        if done:
            s.execute(delete(Prediction).where(Prediction.run_id == run_id))
            if rows:
                s.execute(insert(Prediction), rows)
        return done


def _end(run_id: int, worker_id: str | None, status: str, message: str, error: str = "") -> bool:
    where = _owned(run_id, worker_id) if worker_id else and_(Run.id == run_id, Run.status == RUNNING)
    with _session() as s, s.begin():
        return s.execute(update(Run).where(where).values(
            status=status, finished_at=utcnow(), message=message, error=error, eta_seconds=None,
            resume_requested=False, cancel_requested=False,
        )).rowcount == 1


def fail(run_id: int, worker_id: str | None, error: str) -> bool:
    """Record a failure: `error` is one plain sentence; the details belong in the run's log."""
    return _end(run_id, worker_id, FAILED, "Failed", error)


def mark_cancelled(run_id: int, worker_id: str | None) -> bool:
    return _end(run_id, worker_id, CANCELLED, "Cancelled")


def mark_interrupted(run_id: int, worker_id: str | None, reason: str) -> bool:
    return _end(run_id, worker_id, INTERRUPTED, reason)


def interrupt_orphaned_runs(stale_seconds: float = RUN_STALE_SECONDS) -> list[int]:
    """Mark `interrupted` every running run whose worker is dead (gone from this host, or silent too long)."""
    cutoff = utcnow() - timedelta(seconds=stale_seconds)
    with _session() as s:
        running = s.execute(select(Run.id, Run.worker_id, Run.heartbeat_at).where(Run.status == RUNNING)).all()
    orphaned = []
    for run_id, worker_id, heartbeat_at in running:
        alive = process_alive(worker_id)
        if alive is False or (alive is None and (heartbeat_at is None or heartbeat_at < cutoff)):
            reason = "Interrupted: its worker stopped. Resume it from the last checkpoint or retry it."
            if mark_interrupted(run_id, worker_id, reason):
                orphaned.append(run_id)
    return orphaned


# ---------------------------------------------------------------- workers


def register_worker(worker_id: str) -> None:
    host, pid, _ = worker_id.rsplit(":", 2)
    with _session() as s, s.begin():
        s.merge(Worker(id=worker_id, hostname=host, pid=int(pid), started_at=utcnow(), heartbeat_at=utcnow(), stopped=False))


def heartbeat(worker_id: str, run_ids: list[int]) -> None:
    """The worker is alive, and so are the runs it trains (their rows' heartbeat keeps them from being orphaned)."""
    now = utcnow()
    with _session() as s, s.begin():
        s.execute(update(Worker).where(Worker.id == worker_id).values(heartbeat_at=now))
        if run_ids:
            s.execute(update(Run).where(Run.id.in_(run_ids), Run.status == RUNNING, Run.worker_id == worker_id)
                      .values(heartbeat_at=now))


def stop_worker(worker_id: str) -> None:
    with _session() as s, s.begin():
        s.execute(update(Worker).where(Worker.id == worker_id).values(stopped=True))


def alive_workers(stale_seconds: float = WORKER_STALE_SECONDS) -> list[Worker]:
    """Workers with a recent heartbeat whose process (when on this host) still exists."""
    cutoff = utcnow() - timedelta(seconds=stale_seconds)
    with _session() as s:
        rows = list(s.scalars(select(Worker).where(Worker.stopped.is_(False), Worker.heartbeat_at >= cutoff)))
    return [w for w in rows if process_alive(w.id) is not False]


# ---------------------------------------------------------------- reads


def get_run(run_id: int) -> Run | None:
    """The run row with its dataset loaded (detached: read its attributes freely)."""
    with _session() as s:
        return s.scalar(select(Run).where(Run.id == run_id).options(selectinload(Run.dataset)))


LIST_LIMIT = 500  # newest runs a listing returns: the Runs page stays fast with thousands stored


def list_runs(limit: int = LIST_LIMIT, statuses: tuple[str, ...] | None = None) -> list[Run]:
    """Newest first, each with its dataset loaded."""
    query = select(Run).options(selectinload(Run.dataset)).order_by(Run.id.desc()).limit(limit)
    if statuses:
        query = query.where(Run.status.in_(statuses))
    with _session() as s:
        return list(s.scalars(query))


def metric_points(run_id: int) -> list[MetricPoint]:
    with _session() as s:
        return list(s.scalars(select(MetricPoint).where(MetricPoint.run_id == run_id).order_by(MetricPoint.id)))


def predictions(run_id: int) -> list[Prediction]:
    with _session() as s:
        return list(s.scalars(select(Prediction).where(Prediction.run_id == run_id).order_by(Prediction.example_index)))


def seconds_since(moment: datetime | None) -> float | None:
    return None if moment is None else (utcnow() - moment).total_seconds()
