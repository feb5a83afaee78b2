"""Storing, finding and deleting datasets: the folder `datasets/<id>/` and its database row, together.

Nothing is ever half-stored: the folder is written under a temporary name, renamed to its id inside
the transaction that inserts the row, and removed again if that transaction fails. Deleting moves the
folders aside first and puts them back if the row cannot be deleted.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path, PurePosixPath

import pandas as pd
from sqlalchemy.orm import Session

from core.datasets.files import EXAMPLES_FILE, read_examples, write_examples
from core.datasets.label_names import suggested_names
from core.ingest import SPLIT_SEED, Ingested, ingest_path
from core.ingest.archive import folder_entries, read_regular_file
from core.ingest.ingested import content_digest, entries_digest, fingerprint
from core.ingest.limits import DEFAULT_LIMITS
from storage.datasets import (add_dataset, dataset_runs, datasets_by_fingerprint, delete_dataset_row, get_dataset,
                              lock_fingerprint, lock_for_delete)
from storage.db import session_factory
from storage.models import Dataset
from storage.paths import data_home, datasets_dir, runs_dir
from storage.removal import removed_with

NAME_MAX = 200  # Dataset.name column width


class DatasetInUse(RuntimeError):
    """The dataset has a queued or running run; it cannot be deleted until that run ends or is cancelled."""


def dataset_dir(dataset: Dataset) -> Path:
    """The folder holding examples.csv (and images/) of a stored dataset."""
    return data_home() / (dataset.path or f"datasets/{dataset.id}")


def load_examples(dataset_id: int) -> pd.DataFrame:
    """examples.csv of a stored dataset (input, label, split, source); image inputs are relative paths."""
    dataset = get_dataset(dataset_id)
    if dataset is None:
        raise KeyError(f"no dataset with id {dataset_id}")
    return read_examples(dataset_dir(dataset))


def stored_copy(fingerprint_: str, session: Session | None = None) -> Dataset | None:
    """The stored dataset with this fingerprint whose files are there: saving the same data again reuses it, and
    a copy whose files went missing is passed over (uploading again is how a user mends it)."""
    for row in datasets_by_fingerprint(fingerprint_, session):
        if (dataset_dir(row) / EXAMPLES_FILE).exists():
            return row
    return None


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)  # staging and datasets share the data folder: no copy needed
    except OSError:
        shutil.copy2(source, target)


def _write_folder(ingested: Ingested, folder: Path) -> None:
    frame = ingested.frame.copy()
    if ingested.task == "image":
        (folder / "images").mkdir()
        inputs = []
        for staged in frame["input"]:
            staged = Path(staged)
            _link_or_copy(staged, folder / "images" / staged.name)  # generated names (000001.jpg), unique
            inputs.append(str(PurePosixPath("images") / staged.name))
        frame["input"] = inputs
    write_examples(folder, frame)


class NewDatasetFolder:
    """Where a new dataset's files are written: a folder under a temporary name in the datasets folder, moved to the
    row's own folder by `place(row)` inside the row's transaction. Unless `keep()` is called once that transaction
    committed, leaving the block removes it (an error, or the same data found stored meanwhile), so a failed save
    leaves nothing that looks stored."""

    def __enter__(self) -> NewDatasetFolder:
        self.path = datasets_dir() / f".incoming-{uuid.uuid4().hex}"
        self.path.mkdir(parents=True)
        self.final: Path | None = None
        self.kept = False
        return self

    def place(self, row: Dataset) -> None:
        final = datasets_dir() / str(row.id)
        if final.exists():  # left behind by a process killed between rename and commit
            shutil.rmtree(final)
        self.path.rename(final)
        self.final = final
        row.path = f"datasets/{row.id}"

    def keep(self) -> None:
        self.kept = True

    def __exit__(self, *_exc) -> None:
        if not self.kept:
            shutil.rmtree(self.path, ignore_errors=True)
            if self.final is not None:
                shutil.rmtree(self.final, ignore_errors=True)


def save_dataset(ingested: Ingested, name: str | None = None) -> int:
    """Store an ingested upload and return its dataset id (an existing id when the same data is stored)."""
    existing = stored_copy(ingested.fingerprint)
    if existing is not None:
        return existing.id
    name = (name or "").strip() or PurePosixPath(ingested.source_name).stem or "dataset"
    with NewDatasetFolder() as incoming:
        _write_folder(ingested, incoming.path)
        with session_factory().begin() as session:
            # Saves of the same data take turns from here to the commit, so the second finds the first's copy.
            lock_fingerprint(session, ingested.fingerprint)
            existing = stored_copy(ingested.fingerprint, session)
            if existing is not None:
                return existing.id  # the folder just written is removed below
            row = add_dataset(
                session,
                name=name[:NAME_MAX],
                task=ingested.task,
                source_name=ingested.source_name[:500],
                fingerprint=ingested.fingerprint,
                num_examples=len(ingested.frame),
                labels=ingested.labels,
                display_names=suggested_names(ingested.labels),
                split_counts=ingested.split_counts,
                split_seed=ingested.split_seed,
                report=ingested.report.to_dict(),
            )
            incoming.place(row)
            dataset_id = row.id
        incoming.keep()
        return dataset_id


def _digest_of(path: Path) -> str:
    """What a folder or file on disk holds, as the fingerprint sees it (a device or a FIFO is refused unread)."""
    if path.is_dir():
        return entries_digest(folder_entries(path, DEFAULT_LIMITS))
    return content_digest(read_regular_file(path, DEFAULT_LIMITS))


def register_path(path: Path | str, text_column: str | None = None, label_column: str | None = None,
                  test_path: Path | str | None = None, name: str | None = None, seed: int = SPLIT_SEED) -> int:
    """The command line's way in: a CSV/TSV/XLSX, a zip or a folder -> a stored dataset id.

    The same content with the same choices reuses the stored dataset instead of storing it again.
    Raises core.ingest.DataError when the data cannot become a dataset.
    """
    path = Path(path).expanduser()
    # A cheap look-up before decoding a whole image folder: with class folders (or given columns) the
    # fingerprint is known from the content alone.
    if path.exists() and (path.is_dir() or path.suffix.lower() == ".zip"):
        digest = _digest_of(path)
        test_digest = None
        if test_path is not None:
            test_digest = _digest_of(Path(test_path).expanduser())
        existing = stored_copy(fingerprint(digest, text_column, label_column, test_digest, seed))
        if existing is not None:
            return existing.id
    ingested = ingest_path(path, text_column=text_column, label_column=label_column,
                           test_path=Path(test_path) if test_path is not None else None, seed=seed)
    try:
        return save_dataset(ingested, name or path.stem)
    finally:
        ingested.cleanup()


def delete_dataset(dataset_id: int) -> bool:
    """Delete a dataset's row, its runs' rows and all their folders. False if there is no such dataset."""
    dataset = get_dataset(dataset_id)
    if dataset is None:
        return False
    runs = dataset_runs(dataset_id)
    folders = [dataset_dir(dataset)] + [runs_dir() / str(r.id) for r in runs]
    folders += [data_home() / r.artifact_dir for r in runs if r.artifact_dir]
    with session_factory()() as session:  # closing without a commit rolls back
        active = lock_for_delete(session, dataset_id)  # checked under the write lock: nothing can start meanwhile
        if active is None:
            return False
        if active:
            raise DatasetInUse(f"Dataset '{dataset.name}' has {len(active)} queued or running run(s) "
                               f"({', '.join(f'#{i}' for i in active)}). Cancel them first, then delete the dataset.")
        with removed_with(folders, session):
            deleted = delete_dataset_row(session, dataset_id)
    return deleted
