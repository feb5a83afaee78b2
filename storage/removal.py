"""Removing folders of the data home together with the rows that point to them: all or nothing.

`removed_with(folders, session)` wraps a database change: the folders are first renamed to `.deleting-*` siblings
(cheap and undoable), then the block deletes the rows and `session` is committed at its end; if the block or the
commit raises, the folders are renamed back, so rows and files still match; once committed, they are deleted.
Callers take the database's write lock before entering, so the window between the rename and the commit is
milliseconds; a crash inside it leaves the rows with their folders set aside as `.deleting-*` (the pages then say
the files are missing), a crash after the commit a `.deleting-*` folder no row points to. Only folders inside the
data home are touched, never the home itself, whatever a row says.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.orm import Session

from storage.paths import data_home


def _removable(folder: Path, home: Path) -> bool:
    try:
        resolved = folder.resolve()
    except OSError:
        return False
    return folder.exists() and resolved.is_relative_to(home) and resolved != home


@contextmanager
def removed_with(folders: Iterable[Path], session: Session) -> Iterator[None]:
    home = data_home()
    moved: list[tuple[Path, Path]] = []  # (aside, original)
    try:
        for folder in dict.fromkeys(folders):
            if _removable(folder, home):
                aside = folder.parent / f".deleting-{folder.name}-{uuid.uuid4().hex[:8]}"
                folder.rename(aside)
                moved.append((aside, folder))
        yield
        session.commit()  # here, not in the caller: the folders go back if the commit fails
    except BaseException:
        for aside, original in reversed(moved):
            aside.rename(original)
        raise
    for aside, _ in moved:
        shutil.rmtree(aside, ignore_errors=True)
