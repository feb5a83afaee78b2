"""Data access for stored datasets: plain functions over `storage.models.Dataset`.

Each function takes an open session (`with session_factory().begin() as s: add_dataset(s, ...)`) or,
when given none, opens a short one itself. Files on disk are `core.datasets.store`'s business.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import delete, select, text, update
from sqlalchemy.orm import Session

from storage.db import session_factory
from storage.models import ACTIVE_STATES, Dataset, Run


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


def datasets_by_fingerprint(fingerprint: str, session: Session | None = None) -> list[Dataset]:
    """The stored datasets made from the same content and choices, oldest first (more than one only when an
    earlier copy's files went missing and the data was uploaded again)."""
    if not fingerprint:
        return []
    with _session(session) as s:
        return list(s.scalars(select(Dataset).where(Dataset.fingerprint == fingerprint).order_by(Dataset.id)))


def lock_fingerprint(session: Session, fingerprint: str) -> None:
    """Hold, until the caller's transaction ends, the lock that saving data with this fingerprint takes: three
    `train --background` started at once on the same new file stored it three times, each having found no copy.

    SQLite: a no-op UPDATE takes the database's write lock (OP_Transaction), whatever rows it matches; others wait
    for it (busy_timeout). PostgreSQL: an advisory lock on the fingerprint's first 63 bits.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": int(fingerprint[:15], 16)})
    else:
        session.execute(update(Dataset).where(Dataset.fingerprint == fingerprint).values(name=Dataset.name))


def add_dataset(session: Session, **values: Any) -> Dataset:
    """Insert a row and flush it, so `row.id` is known inside the caller's transaction."""
    row = Dataset(**values)
    session.add(row)
    session.flush()
    return row


def dataset_runs(dataset_id: int, session: Session | None = None) -> list[Run]:
    with _session(session) as s:
        return list(s.scalars(select(Run).where(Run.dataset_id == dataset_id).order_by(Run.id)))


def lock_for_delete(session: Session, dataset_id: int) -> list[int] | None:
    """Take the write lock with a no-op UPDATE of the dataset's row, then list its queued or running runs: from
    here to the commit no run can be queued or claimed on it. None if there is no such dataset."""
    if not session.execute(update(Dataset).where(Dataset.id == dataset_id).values(name=Dataset.name)).rowcount:
        return None
    return list(session.scalars(select(Run.id).where(Run.dataset_id == dataset_id, Run.status.in_(ACTIVE_STATES))))


def delete_dataset_row(session: Session, dataset_id: int) -> bool:
    """Delete the row and its runs (their metric points and predictions go by cascade). False if absent."""
    row = session.get(Dataset, dataset_id)
    if row is None:
        return False
    session.execute(delete(Run).where(Run.dataset_id == dataset_id))  # explicit: SQLite cascades need foreign_keys=ON
    session.delete(row)
    session.flush()
    return True


def lineage_versions(dataset_id: int, session: Session | None = None) -> list[Dataset]:
    """Every version of the dataset's lineage (version 1 and those made from it), oldest first."""
    with _session(session) as s:
        row = s.get(Dataset, dataset_id)
        if row is None:
            return []
        root = row.lineage_id or row.id
        return list(s.scalars(select(Dataset).where((Dataset.id == root) | (Dataset.lineage_id == root))
                              .order_by(Dataset.version, Dataset.id)))
