"""Small read-only summaries for the dashboard."""

from __future__ import annotations

from sqlalchemy import func, select

from storage.db import session_factory
from storage.models import Dataset, Run


def count_datasets_and_runs() -> tuple[int, int]:
    with session_factory()() as s:
        return s.scalar(select(func.count(Dataset.id))) or 0, s.scalar(select(func.count(Run.id))) or 0
