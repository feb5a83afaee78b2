"""Settings searches as rows: create one, let one worker at a time drive it (a lease), record how it ended.

The `searches` row is the one truth about a search's state; its trials are runs (runs.search_id, search_trial) and
its Optuna study lives in the same database (storage.db.optuna_storage). Every function opens its own short
transaction, as storage.run_queue's verbs do.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update

from storage.db import session_factory
from storage.models import (
    QUEUED, RUNNING, SEARCH_RUNNING, Dataset, Run, Search, json_safe, utcnow,
)
from storage.processes import owner_gone

LEASE_SECONDS = 30.0  # a worker that stops driving a search hands it on after this (sooner when it is dead here)
MAX_STEP_GAP_SECONDS = 60.0  # a longer gap between two steps is time without a worker: not spent budget


class SearchError(ValueError):
    """A search that cannot start or change: one plain sentence for the user, a stable `code` for programs."""

    def __init__(self, message: str, code: str):
        super().__init__(message)
        self.code = code


def study_name(search_id: int) -> str:
    return f"tuneboard-search-{search_id}"


def create_search(dataset_id: int, model: str, method: str, budget_seconds: float, name: str = "") -> int:
    with session_factory().begin() as s:
        if s.get(Dataset, dataset_id) is None:
            raise SearchError(f"Dataset {dataset_id} does not exist; upload it on the Data page first.", "no_dataset")
        search = Search(dataset_id=dataset_id, model=model, method=method, budget_seconds=float(budget_seconds),
                        name=name, status=SEARCH_RUNNING, message="Waiting for a worker", summary={})
        s.add(search)
        s.flush()
        return search.id


def get_search(search_id: int) -> Search | None:
    with session_factory()() as s:
        return s.get(Search, search_id)


def list_searches(dataset_id: int | None = None, limit: int = 200) -> list[Search]:
    """Newest first."""
    query = select(Search).order_by(Search.id.desc()).limit(limit)
    if dataset_id is not None:
        query = query.where(Search.dataset_id == dataset_id)
    with session_factory()() as s:
        return list(s.scalars(query))


def running_search_ids() -> list[int]:
    """Searches a worker should drive (a cheap query the worker makes every few seconds)."""
    with session_factory()() as s:
        return list(s.scalars(select(Search.id).where(Search.status == SEARCH_RUNNING).order_by(Search.id)))


def take_lease(search_id: int, worker_id: str, seconds: float = LEASE_SECONDS) -> Search | None:
    """Drive the search for the next `seconds`: the row (with the budget spent so far brought up to now), or None
    when another live worker drives it. The row is read, then changed by one UPDATE that holds only if nobody
    changed it meanwhile (compare and swap), so two workers never drive one search at once."""
    now = utcnow()
    with session_factory()() as s:
        row = s.execute(select(Search.coordinator, Search.lease_until, Search.last_step_at, Search.spent_seconds)
                        .where(Search.id == search_id, Search.status == SEARCH_RUNNING)).first()
    if row is None:
        return None
    holder, until, last_step, spent = row
    free = not holder or holder == worker_id or until is None or until < now or owner_gone(holder, until, now)
    if not free:
        return None
    gap = (now - last_step).total_seconds() if last_step else 0.0
    spent += gap if 0 < gap <= MAX_STEP_GAP_SECONDS else 0.0

    def same(column, value):
        return column.is_(None) if value is None else column == value

    with session_factory().begin() as s:
        done = s.execute(update(Search).where(
            Search.id == search_id, Search.status == SEARCH_RUNNING, Search.coordinator == holder,
            same(Search.lease_until, until), same(Search.last_step_at, last_step),
        ).values(coordinator=worker_id, lease_until=now + timedelta(seconds=seconds), last_step_at=now,
                 spent_seconds=spent)).rowcount == 1
    return get_search(search_id) if done else None


def _owned(search_id: int, worker_id: str):
    return and_(Search.id == search_id, Search.status == SEARCH_RUNNING, Search.coordinator == worker_id)


def save_progress(search_id: int, worker_id: str, *, message: str, summary: dict[str, Any],
                  best_run_id: int | None) -> bool:
    with session_factory().begin() as s:
        return s.execute(update(Search).where(_owned(search_id, worker_id)).values(
            message=message, summary=json_safe(summary), best_run_id=best_run_id)).rowcount == 1


def finish_search(search_id: int, worker_id: str, status: str, *, message: str, summary: dict[str, Any],
                  best_run_id: int | None, error: str = "") -> bool:
    with session_factory().begin() as s:
        return s.execute(update(Search).where(_owned(search_id, worker_id)).values(
            status=status, message=message, error=error, summary=json_safe(summary), best_run_id=best_run_id,
            finished_at=utcnow(), coordinator="", lease_until=None)).rowcount == 1


def release_all(worker_id: str) -> None:
    """A worker that stops hands its searches on at once."""
    with session_factory().begin() as s:
        s.execute(update(Search).where(Search.status == SEARCH_RUNNING, Search.coordinator == worker_id)
                  .values(coordinator="", lease_until=None))


def request_stop(search_id: int) -> None:
    """Ask the search to stop: its worker cancels the trials in progress and keeps the best finished one."""
    with session_factory().begin() as s:
        done = s.execute(update(Search).where(Search.id == search_id, Search.status == SEARCH_RUNNING).values(
            stop_requested=True, message="Stopping")).rowcount
        status = s.scalar(select(Search.status).where(Search.id == search_id))
    if status is None:
        raise SearchError(f"There is no search {search_id}.", "no_search")
    if not done:
        raise SearchError(f"Search {search_id} is already {status}.", "not_running")


def trial_runs(search_id: int) -> list[Run]:
    """The search's runs, oldest first (a trial whose run was lost before its first checkpoint has a later one)."""
    with session_factory()() as s:
        return list(s.scalars(select(Run).where(Run.search_id == search_id).order_by(Run.id)))


def active_trial_runs(search_id: int) -> list[Run]:
    """Queued, running, or waiting to resume (its worker died; a worker takes it up again)."""
    with session_factory()() as s:
        return list(s.scalars(select(Run).where(Run.search_id == search_id, or_(
            Run.status.in_((QUEUED, RUNNING)), Run.resume_requested.is_(True)))))
