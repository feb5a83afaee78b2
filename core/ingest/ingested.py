"""`Ingested`: an upload turned into examples and a report, not yet stored; and its staging folder.

Images are decoded and re-encoded at ingestion (so problems show before anything is saved) into a
staging folder under the data home: `staging/<random>/images/000001.jpg`. `core.datasets.store.save_dataset`
links those files into the dataset's folder; `cleanup()` removes the staging folder.

An upload that is never saved or discarded (a closed browser tab, a killed process) leaves its folder
behind: it goes when its `Ingested` is garbage-collected (Streamlit drops a closed session's state), and
`sweep_staging` removes folders whose owning process has died, and any older than a day. The app sweeps
when its process starts and every `STAGING_SWEEP_S` after (app.py), and every new staging folder sweeps too.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
import time
import uuid
import weakref
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from core.ingest.archive import Entry
from core.ingest.report import Report
from storage.paths import data_home
from storage.processes import process_alive, process_identity

STAGING_MAX_AGE_S = 24 * 3600  # a folder whose process lives on (the app) but whose upload was left that long
STAGING_SWEEP_S = 10 * 60
OWNER_FILE = "owner"  # the identity (storage.processes) of the process that made the folder
_last_sweep: float | None = None
_sweep_lock = threading.Lock()
FINGERPRINT_VERSION = 2  # bump when ingestion changes what a stored dataset holds (2: a given val/ is the test set)


def staging_root() -> Path:
    return data_home() / "staging"


def sweep_staging(now: float | None = None) -> list[Path]:
    """Remove the staging folders of dead processes (at once) and of any process after a day; the removed folders."""
    root = staging_root()
    if not root.is_dir():
        return []
    now = time.time() if now is None else now
    removed = []
    for folder in root.iterdir():
        try:
            owner = (folder / OWNER_FILE).read_text().strip()
            old = now - folder.stat().st_mtime > STAGING_MAX_AGE_S
        except OSError:  # removed meanwhile, or made before owners were written: judged by its age alone
            owner, old = "", folder.exists() and now - folder.stat().st_mtime > STAGING_MAX_AGE_S
        if folder.is_dir() and (old or (owner and process_alive(owner) is False)):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def sweep_staging_now_and_then(now: float | None = None) -> None:
    """`sweep_staging` at the first call in this process, then at most every STAGING_SWEEP_S (a timer driven by
    the app's reruns: cheap when it is not due)."""
    global _last_sweep
    now = time.time() if now is None else now
    with _sweep_lock:
        if _last_sweep is not None and now - _last_sweep < STAGING_SWEEP_S:
            return
        _last_sweep = now
    sweep_staging(now)


def new_staging_dir() -> Path:
    root = staging_root()
    root.mkdir(exist_ok=True)
    sweep_staging()
    path = root / uuid.uuid4().hex
    (path / "images").mkdir(parents=True)
    (path / OWNER_FILE).write_text(process_identity())
    return path


def content_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def entries_digest(entries: list[Entry]) -> str:
    """One digest for a collection of files: their names and contents, in name order."""
    digest = hashlib.sha256()
    for entry in sorted(entries, key=lambda e: e.name):
        digest.update(entry.name.encode() + b"\0" + content_digest(entry.read()).encode())
    return digest.hexdigest()


def fingerprint(content_digest: str, text_column: str | None, label_column: str | None,
                test_digest: str | None, seed: int, merge_labels: bool = False) -> str:
    """sha256 of what decides a stored dataset's content: the upload's bytes and the user's choices."""
    key = [FINGERPRINT_VERSION, content_digest, text_column or "", label_column or "", test_digest or "", seed]
    if merge_labels:  # appended only when chosen, so the fingerprints of data stored before stay as they were
        key.append("merge_labels")
    return hashlib.sha256(json.dumps(key).encode()).hexdigest()


@dataclass
class Ingested:
    task: str  # "text" | "image"
    frame: pd.DataFrame  # kept examples: input, label, split, source (for images `input` = absolute staged path)
    report: Report
    source_name: str  # the uploaded file or folder name, for display
    fingerprint: str
    columns: list[str] = field(default_factory=list)  # the table's columns, for the pickers ([] for class folders)
    text_column: str | None = None  # for images from a labels CSV: the column naming the files
    label_column: str | None = None
    preview: pd.DataFrame | None = None  # the first rows of the table as read, with its column names
    staging_dir: Path | None = None
    split_seed: int = 42
    merged_labels: bool = False  # label variants (core.ingest.label_variants) were merged at the user's request

    @property
    def labels(self) -> list[str]:
        return sorted(self.frame["label"].unique())

    @property
    def split_counts(self) -> dict[str, int]:
        return dict(self.report.split_counts)

    def __post_init__(self) -> None:
        if self.staging_dir is not None:  # an upload left in a closed session goes with its state
            self._finalizer = weakref.finalize(self, shutil.rmtree, self.staging_dir, ignore_errors=True)

    def cleanup(self) -> None:
        """Remove the staging folder (after saving, or when the upload is discarded)."""
        if self.staging_dir is not None:
            shutil.rmtree(self.staging_dir, ignore_errors=True)
