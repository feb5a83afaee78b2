"""Exports as background jobs: the page asks for one, a worker builds it (core.jobs.export_runner), the row says how
it went. Like storage.run_queue: a worker claims a job with one conditional UPDATE, and every later write is guarded
by `status='running' AND worker_id=<its id>`, so an export process that outlived its worker changes nothing.

States (storage.models): queued -> running -> offered | refused | failed | interrupted.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import and_, select, update

from storage.db import session_factory
from storage.models import (
    EXPORT_FAILED, EXPORT_INTERRUPTED, EXPORT_QUEUED, EXPORT_RUNNING, OFFERED, SUCCEEDED, ExportJob, Run, json_safe,
    utcnow,
)
from storage.paths import data_home, run_dir
from storage.processes import owner_gone
from storage.run_queue import claim_oldest

EXPORT_STALE_SECONDS = 60.0  # a running export whose heartbeat is older than this belongs to a dead worker
EXPORTS_DIR = "exports"  # inside the run's folder, so deleting a run deletes its exports


class RunNotExportable(ValueError):
    """The export cannot be asked for (the run is not finished); the message says why."""


def export_folder(run_id: int, export_id: int) -> Path:
    """Where an export's files go: runs/<run>/exports/<export>/ (the export folder and its zip inside)."""
    return run_dir(run_id) / EXPORTS_DIR / str(export_id)


def request_export(run_id: int, fmt: str) -> ExportJob:
    """Queue an export of a finished run, or return the one already queued, running or offered in that format
    (asking twice builds it once)."""
    with session_factory().begin() as s:
        run = s.get(Run, run_id)
        if run is None or run.status != SUCCEEDED:
            raise RunNotExportable(f"Run {run_id} is not a finished run, so it cannot be exported.")
        existing = s.scalar(select(ExportJob).where(
            ExportJob.run_id == run_id, ExportJob.format == fmt,
            ExportJob.status.in_((EXPORT_QUEUED, EXPORT_RUNNING, OFFERED))).order_by(ExportJob.id.desc()).limit(1))
        if existing is not None:
            s.expunge(existing)
            return existing
        job = ExportJob(run_id=run_id, format=fmt, status=EXPORT_QUEUED, message="Waiting for a worker")
        s.add(job)
        s.flush()
        s.expunge(job)
        return job


def run_exports(run_id: int) -> list[ExportJob]:
    """A run's exports, newest first."""
    with session_factory()() as s:
        return list(s.scalars(select(ExportJob).where(ExportJob.run_id == run_id).order_by(ExportJob.id.desc())))


def offered_export_dir(run_id: int, fmt: str) -> Path | None:
    """The folder of the run's newest offered (verified) export in `fmt` that is still on disk, or None."""
    with session_factory()() as s:
        paths = s.scalars(select(ExportJob.path).where(
            ExportJob.run_id == run_id, ExportJob.format == fmt, ExportJob.status == OFFERED,
            ExportJob.path != "").order_by(ExportJob.id.desc())).all()
    for path in paths:
        folder = data_home() / path
        if folder.is_dir():
            return folder
    return None


def get_export(export_id: int) -> ExportJob | None:
    with session_factory()() as s:
        return s.get(ExportJob, export_id)


def claim_next_export(worker_id: str) -> int | None:
    """Take the oldest queued export for `worker_id` (exactly once across workers: run_queue.claim_oldest)."""
    row = claim_oldest(ExportJob, ExportJob.status == EXPORT_QUEUED, lambda now: dict(
        status=EXPORT_RUNNING, worker_id=worker_id, started_at=now, heartbeat_at=now, message="Starting"))
    return None if row is None else int(row.id)


def _owned(export_id: int, worker_id: str):
    return and_(ExportJob.id == export_id, ExportJob.status == EXPORT_RUNNING, ExportJob.worker_id == worker_id)


def report_export(export_id: int, worker_id: str, message: str) -> bool:
    """The step the export is at; False when it is no longer this worker's."""
    with session_factory().begin() as s:
        return s.execute(update(ExportJob).where(_owned(export_id, worker_id))
                         .values(message=message, heartbeat_at=utcnow())).rowcount == 1


def heartbeat_exports(worker_id: str, export_ids: list[int]) -> None:
    if not export_ids:
        return
    with session_factory().begin() as s:
        s.execute(update(ExportJob).where(ExportJob.id.in_(export_ids), ExportJob.status == EXPORT_RUNNING,
                                          ExportJob.worker_id == worker_id).values(heartbeat_at=utcnow()))


def _relative(path: Path | None) -> str:
    if path is None:
        return ""
    path = Path(path)
    return str(path.relative_to(data_home())) if path.is_absolute() and path.is_relative_to(data_home()) else str(path)


def finish_export(export_id: int, worker_id: str, *, status: str, result: dict[str, Any], path: Path,
                  zip_path: Path | None) -> bool:
    """Record a built export: `status` is OFFERED or REFUSED (result["reason"] says why)."""
    with session_factory().begin() as s:
        return s.execute(update(ExportJob).where(_owned(export_id, worker_id)).values(
            status=status, result=json_safe(result), path=_relative(path), zip_path=_relative(zip_path),
            finished_at=utcnow(), heartbeat_at=utcnow(), message="Finished", error="",
        )).rowcount == 1


def fail_export(export_id: int, worker_id: str | None, error: str, status: str = EXPORT_FAILED) -> bool:
    """Record that the export could not be made: `error` is one plain sentence."""
    where = _owned(export_id, worker_id) if worker_id else and_(ExportJob.id == export_id,
                                                                 ExportJob.status == EXPORT_RUNNING)
    with session_factory().begin() as s:
        return s.execute(update(ExportJob).where(where).values(
            status=status, error=error, message=error, finished_at=utcnow())).rowcount == 1


def interrupt_orphaned_exports(stale_seconds: float = EXPORT_STALE_SECONDS) -> list[int]:
    """Mark `interrupted` every running export whose worker is dead, so none is shown as running for ever."""
    cutoff = utcnow() - timedelta(seconds=stale_seconds)
    with session_factory()() as s:
        running = s.execute(select(ExportJob.id, ExportJob.worker_id, ExportJob.heartbeat_at)
                            .where(ExportJob.status == EXPORT_RUNNING)).all()
    orphaned = []
    for export_id, worker_id, heartbeat_at in running:
        if owner_gone(worker_id, heartbeat_at, cutoff):
            if fail_export(export_id, worker_id, "Interrupted: its worker stopped. Ask for the export again.",
                           status=EXPORT_INTERRUPTED):
                orphaned.append(export_id)
    return orphaned
