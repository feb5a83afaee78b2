"""`Ingested`: an upload turned into examples and a report, not yet stored; and its staging folder.

Images are decoded and re-encoded at ingestion (so problems show before anything is saved) into a
staging folder under the data home: `staging/<random>/images/000001.jpg`. `core.datasets.store.save_dataset`
links those files into the dataset's folder; `cleanup()` removes the staging folder. Staging folders
older than a day (an upload that was never saved) are removed when the next one is made.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from core.ingest.archive import Entry
from core.ingest.report import Report
from storage.paths import data_home

STAGING_MAX_AGE_S = 24 * 3600
FINGERPRINT_VERSION = 2  # bump when ingestion changes what a stored dataset holds (2: a given val/ is the test set)


def staging_root() -> Path:
    return data_home() / "staging"


def new_staging_dir() -> Path:
    root = staging_root()
    root.mkdir(exist_ok=True)
    now = time.time()
    for old in root.iterdir():
        if old.is_dir() and now - old.stat().st_mtime > STAGING_MAX_AGE_S:
            shutil.rmtree(old, ignore_errors=True)
    path = root / uuid.uuid4().hex
    (path / "images").mkdir(parents=True)
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

    def cleanup(self) -> None:
        """Remove the staging folder (after saving, or when the upload is discarded)."""
        if self.staging_dir is not None:
            shutil.rmtree(self.staging_dir, ignore_errors=True)
