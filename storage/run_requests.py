"""What the pages and the CLI ask of runs: queue one, cancel, resume, retry, clone or delete it.

They only *request*: a cancel or a resume is a flag on the row that a worker acts on (storage.run_queue), and
a retry or a clone is a new queued run. A refusal is a `JobError`: one plain sentence for the user.
Every function opens its own short transaction.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, update

from storage.db import session_factory
from storage.models import (
    CANCELLED, FINAL_STATES, QUEUED, RESUMABLE_STATES, RETRYABLE_STATES, RUNNING,
    Dataset, MetricPoint, Prediction, Run, json_safe, utcnow,
)
from storage.paths import data_home, run_dir, run_files
from storage.removal import removed_with
from storage.runs import get_run


class JobError(ValueError):
    """A request the user must change: one plain sentence in the message, a stable `code` for programs."""

    def __init__(self, message: str, code: str):
        super().__init__(message)
        self.code = code


def enqueue(dataset_id: int, config: dict[str, Any], name: str = "", estimate: dict[str, Any] | None = None,
            auto_resume: bool = False) -> int:
    """Queue a run. `estimate`: its expected seconds and memory (core.jobs.submit makes it), or none if unknown.
    `auto_resume`: when its worker dies or stops, any worker resumes it (Run.auto_resume)."""
    return _insert_run(dataset_id, config, name, estimate=estimate, auto_resume=auto_resume)


def enqueue_claimed(dataset_id: int, config: dict[str, Any], worker_id: str, name: str = "",
                    estimate: dict[str, Any] | None = None) -> int:
    """A run created already running under `worker_id`: the CLI trains it in-process, so no worker may take it.

    One INSERT: the row is never queued, not even for an instant a worker could claim it in.
    """
    return _insert_run(dataset_id, config, name, worker_id, estimate)


def enqueue_for_search(dataset_id: int, config: dict[str, Any], search_id: int, trial: int, name: str = "",
                       estimate: dict[str, Any] | None = None) -> int:
    """Queue a trial of a settings search (core.search) as a run like any other, marked with its search and trial."""
    return _insert_run(dataset_id, config, name, estimate=estimate, search=(search_id, trial))


def queued_run(dataset_id: int, config: dict[str, Any], name: str, estimate: dict[str, Any] | None = None,
               auto_resume: bool = False) -> Run:
    """A new queued run's row, for the caller's transaction to add."""
    return Run(dataset_id=dataset_id, config=json_safe(config), name=name, status=QUEUED,
               message="Waiting for a worker", estimate=json_safe(estimate or {}), auto_resume=auto_resume)


def _insert_run(dataset_id: int, config: dict[str, Any], name: str, worker_id: str | None = None,
                estimate: dict[str, Any] | None = None, search: tuple[int, int] | None = None,
                auto_resume: bool = False) -> int:
    with session_factory().begin() as s:
        if s.get(Dataset, dataset_id) is None:
            raise JobError(f"Dataset {dataset_id} does not exist; upload it on the Data page first.", "no_dataset")
        run = queued_run(dataset_id, config, name, estimate, auto_resume)
        if search is not None:
            run.search_id, run.search_trial = search
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
    with session_factory().begin() as s:
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
    with session_factory()() as s:
        run = s.get(Run, run_id)
        if run is None:
            raise JobError(f"There is no run {run_id}.", "no_run")
        if run.status not in RESUMABLE_STATES:
            raise JobError(f"Run {run_id} is {run.status}; only interrupted, cancelled or failed runs can be resumed.", "not_resumable")
    if not run_files(run_id).has_checkpoint():
        raise JobError(f"Run {run_id} has no checkpoint to resume from; use Retry to train it again from the start.", "no_checkpoint")
    with session_factory().begin() as s:
        s.execute(update(Run).where(Run.id == run_id, Run.status.in_(RESUMABLE_STATES)).values(
            resume_requested=True, cancel_requested=False, message="Waiting for a worker to resume it"))


def clone_run(run_id: int, config: dict[str, Any] | None = None, name: str | None = None) -> int:
    """Queue a new run on the same dataset, with the same config unless `config` is given."""
    with session_factory()() as s:
        run = s.get(Run, run_id)
        if run is None:
            raise JobError(f"There is no run {run_id}.", "no_run")
        dataset_id, old_config, old_name, old_estimate = run.dataset_id, dict(run.config), run.name, dict(run.estimate or {})
        auto_resume = bool(run.auto_resume)
    # The old estimate still holds for the same settings (a seed changes the luck, not the time).
    same = config is None or _without_seed(config) == _without_seed(old_config)
    return enqueue(dataset_id, old_config if config is None else config, old_name if name is None else name,
                   estimate=old_estimate if same else None, auto_resume=auto_resume)


def _without_seed(config: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in config.items() if k != "seed"}


def repeat_with_seeds(run_id: int, count: int = 2) -> list[int]:
    """Queue the run's configuration again with `count` seeds not yet used for it on its dataset, so Compare can
    show how much of a result is luck. Returns the new runs' ids."""
    with session_factory()() as s:
        run = s.get(Run, run_id)
        if run is None:
            raise JobError(f"There is no run {run_id}.", "no_run")
        config, dataset_id = dict(run.config), run.dataset_id
        others = s.scalars(select(Run.config).where(Run.dataset_id == dataset_id)).all()
    used = {other.get("seed") for other in others if _without_seed(other) == _without_seed(config)}
    seeds, seed = [], int(config.get("seed", 42))
    while len(seeds) < count:
        seed += 1
        if seed not in used:
            seeds.append(seed)
    return [clone_run(run_id, {**config, "seed": seed}, name=f"Run {run_id} with seed {seed}") for seed in seeds]


def set_auto_resume(run_id: int, on: bool) -> None:
    """Turn a run's "resume automatically" on or off (it applies the next time its worker dies or stops)."""
    with session_factory().begin() as s:
        if s.execute(update(Run).where(Run.id == run_id).values(auto_resume=on)).rowcount != 1:
            raise JobError(f"There is no run {run_id}.", "no_run")


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
    with session_factory()() as s:
        row = s.execute(select(Run.status, Run.artifact_dir).where(Run.id == run_id)).first()
    if row is None:
        raise JobError(f"There is no run {run_id}.", "no_run")
    if row.status not in FINAL_STATES:
        raise JobError(f"Run {run_id} is {row.status}; cancel it first, then delete it.", "still_active")
    folders = [run_dir(run_id)] + ([data_home() / row.artifact_dir] if row.artifact_dir else [])
    with session_factory()() as s:  # closing without a commit rolls back
        still_final = Run.id == run_id, Run.status.in_(FINAL_STATES)
        if not s.execute(update(Run).where(*still_final).values(status=Run.status)).rowcount:
            # A worker took it (a resume) after the check above.
            raise JobError(f"Run {run_id} was just started again; cancel it first, then delete it.", "still_active")
        with removed_with(folders, s):
            s.execute(delete(MetricPoint).where(MetricPoint.run_id == run_id))
            s.execute(delete(Prediction).where(Prediction.run_id == run_id))
            s.execute(delete(Run).where(Run.id == run_id))
