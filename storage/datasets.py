"""Data access for stored datasets: plain functions over `storage.models.Dataset`.

Each function takes an open session (`with session_factory().begin() as s: add_dataset(s, ...)`) or,
when given none, opens a short one itself. Files on disk are `core.datasets`'s business.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from storage.db import session_factory
from storage.models import Dataset, Run


@contextmanager
def _session(session: Session | None) -> Iterator[Session]:
    if session is not None:
        yield session
        return
    with session_factory().begin() as own:
        yield own


def list_datasets(session: Session | None = None) -> list[Dataset]:
    """All datasets, newest first."""
    with _session(session) as s:
        return list(s.scalars(select(Dataset).order_by(Dataset.created_at.desc(), Dataset.id.desc())))


def get_dataset(dataset_id: int, session: Session | None = None) -> Dataset | None:
    with _session(session) as s:
        return s.get(Dataset, dataset_id)


def find_by_fingerprint(fingerprint: str, session: Session | None = None) -> Dataset | None:
    """The stored dataset made from the same content and choices, if any (the oldest one)."""
    if not fingerprint:
        return None
    with _session(session) as s:
        return s.scalars(select(Dataset).where(Dataset.fingerprint == fingerprint).order_by(Dataset.id)).first()


def add_dataset(session: Session, **values: Any) -> Dataset:
    """Insert a row and flush it, so `row.id` is known inside the caller's transaction."""
    row = Dataset(**values)
    session.add(row)
    session.flush()
    return row


def dataset_runs(dataset_id: int, session: Session | None = None) -> list[Run]:
    with _session(session) as s:
        return list(s.scalars(select(Run).where(Run.dataset_id == dataset_id).order_by(Run.id)))


def delete_dataset_row(session: Session, dataset_id: int) -> bool:
    """Delete the row and its runs (their metric points and predictions go by cascade). False if absent."""
    row = session.get(Dataset, dataset_id)
    if row is None:
        return False
    session.execute(delete(Run).where(Run.dataset_id == dataset_id))  # explicit: SQLite cascades need foreign_keys=ON
    session.delete(row)
    session.flush()
    return True
