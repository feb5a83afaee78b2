"""Which data folder a database belongs to: runs and datasets are rows in the database and files in the data folder
(TUNEBOARD_HOME), so every process sharing one database must see the same folder, on every machine (shared storage:
NFS, a mounted volume). A worker started with another folder would train runs whose datasets it cannot find and
write models where nobody looks; it refuses to start instead (core.jobs.worker), with the sentence below.

The first process to bind a database to a folder (the app, a worker) gives the pair an id: stored in the
`data_folders` row and written into the folder as MARK_FILE. Later processes compare the two.
"""

from __future__ import annotations

import os
import threading
import uuid
from pathlib import Path

from sqlalchemy.exc import IntegrityError

from storage.db import session_factory
from storage.models import DataFolder, utcnow
from storage.paths import data_home, database_url

MARK_FILE = "database-id"  # in the data folder: the id of the database it belongs to

_bound: set[tuple[str, str]] = set()  # (database URL, folder) pairs already checked in this process
_lock = threading.Lock()


class DataFolderMismatch(Exception):
    """The data folder is not the database's; the message is one plain sentence saying what to fix."""


def bind_data_folder(owner: str = "") -> str:
    """Check that TUNEBOARD_HOME is the folder this database belongs to (binding them on first use); its id.

    Raises DataFolderMismatch when the folder holds another database's mark, or no mark while the database already
    belongs to a folder elsewhere (a SQLite database inside this folder is this folder's by definition).
    """
    home, url = data_home(), database_url()
    mark = home / MARK_FILE
    factory = session_factory()
    with factory() as s:
        row = s.get(DataFolder, 1)
        expected = row.folder_id if row is not None else None
    # read after the row: whoever committed the row wrote its mark first, so a process starting at the same moment
    # as the one that binds sees both or neither
    in_folder = _read_mark(mark)
    if expected is None:  # a new database (or one from before revision 0009): this folder becomes its folder
        try:
            with factory.begin() as s:
                expected = in_folder or str(uuid.uuid4())
                s.add(DataFolder(id=1, folder_id=expected, created_at=utcnow(), created_by=owner))
                s.flush()
                if in_folder is None:  # written before the commit: whoever loses the race below finds it
                    _write_mark(mark, expected)
                    in_folder = expected
        except IntegrityError:  # another process bound it first (its mark was written before its commit)
            with factory() as s:
                expected = s.get(DataFolder, 1).folder_id
            in_folder = _read_mark(mark)
    if in_folder is None and _database_inside(url, home):
        _write_mark(mark, expected)  # the SQLite file inside this folder: the folder is the database's
    elif in_folder is None:
        raise DataFolderMismatch(
            f"The data folder {home} is not the one this database belongs to (it has no {MARK_FILE} file; the "
            "database's datasets and runs are in another folder): start with TUNEBOARD_HOME set to the data folder "
            "the app and the other workers share (on another machine: that folder, mounted).")
    elif in_folder != expected:
        raise DataFolderMismatch(
            f"The data folder {home} belongs to another database (its {MARK_FILE} file says {in_folder}; this "
            f"database expects {expected}): start with TUNEBOARD_HOME set to the data folder the app and the other "
            "workers share, or DATABASE_URL set to this folder's database.")
    with _lock:
        _bound.add((url, str(home)))
    return expected


def checked_already() -> bool:
    """Whether this process bound the current database and folder already (the app checks once per process)."""
    return (database_url(), str(data_home())) in _bound


def _read_mark(mark: Path) -> str | None:
    try:
        return mark.read_text(encoding="utf-8").strip() or None
    except FileNotFoundError:
        return None


def _write_mark(mark: Path, folder_id: str) -> None:
    partial = mark.with_name(f".{mark.name}.{os.getpid()}")
    partial.write_text(folder_id + "\n", encoding="utf-8")
    os.replace(partial, mark)


def _database_inside(url: str, home: Path) -> bool:
    if not url.startswith("sqlite"):
        return False
    path = url.split("///", 1)[-1]
    return bool(path) and Path(path).resolve().is_relative_to(home)
