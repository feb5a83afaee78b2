"""Small read-only summaries for the dashboard."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func, or_, select

from storage.db import session_factory
from storage.models import ACTIVE_STATES, Dataset, Run


def count_datasets_and_runs() -> tuple[int, int]:
    with session_factory()() as s:
        return s.scalar(select(func.count(Dataset.id))) or 0, s.scalar(select(func.count(Run.id))) or 0


@dataclass(frozen=True)
class RunState:
    """The few columns the app's run notice compares between two looks (storage.overview.run_states)."""

    id: int
    status: str
    name: str
    accuracy: float | None
    error: str


def run_states(ids: Iterable[int] = ()) -> dict[int, RunState]:
    """Every queued or running run, and the runs `ids` whatever their state: one indexed query on four columns,
    cheap enough to repeat every few seconds on every open page (pages/shared/run_notice.py)."""
    wanted = list(ids)
    condition = Run.status.in_(ACTIVE_STATES)
    if wanted:
        condition = or_(condition, Run.id.in_(wanted))
    with session_factory()() as s:
        rows = s.execute(select(Run.id, Run.status, Run.name, Run.metrics, Run.error).where(condition)).all()
    return {row.id: RunState(row.id, row.status, row.name or "", (row.metrics or {}).get("accuracy"), row.error or "")
            for row in rows}
