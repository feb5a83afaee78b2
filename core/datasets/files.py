"""The on-disk form of a stored dataset: <data home>/datasets/<id>/examples.csv (+ images/).

examples.csv columns:
  input   the text, or for images the file path relative to the dataset folder (RGB, re-encoded at upload)
  label   the class name (always a string)
  split   "train" | "val" | "test" (fixed at upload, so every run is judged on the same test set)
  source  where the example came from (row number or original file name), shown to the user
  row_id  (versions after the first, core/datasets/versions.py) the row's identity across a dataset's versions;
          a file without it (every version 1) names its rows by their position, "0", "1", ...
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd

from storage.paths import data_home

EXAMPLES_FILE = "examples.csv"
COLUMNS = ["input", "label", "split", "source"]
ROW_ID = "row_id"


def examples_digest(dataset_dir: Path) -> str:
    """sha256 of a stored dataset's examples.csv: its identity for caches (a stored dataset never changes in place,
    so the same file means the same examples and images)."""
    return hashlib.sha256((Path(dataset_dir) / EXAMPLES_FILE).read_bytes()).hexdigest()


def dataset_missing_note(dataset_name: str, dataset_path: str) -> str | None:
    """The sentence to show when a stored dataset's files are gone (its row and its runs' numbers remain);
    None when examples.csv is there. `dataset_path` is the row's folder, relative to the data home."""
    if dataset_path and (data_home() / dataset_path / EXAMPLES_FILE).is_file():
        return None
    return (f"The files of dataset '{dataset_name}' are missing, so it cannot be trained on again; "
            "upload it again on the Data page.")


def read_examples(dataset_dir: Path) -> pd.DataFrame:
    frame = pd.read_csv(dataset_dir / EXAMPLES_FILE, dtype=str, keep_default_na=False)
    return frame.reset_index(drop=True)


def write_examples(dataset_dir: Path, frame: pd.DataFrame) -> None:
    # Written to a temp name and renamed, so a crash never leaves a half-written file.
    tmp = dataset_dir / (EXAMPLES_FILE + ".tmp")
    frame[COLUMNS + ([ROW_ID] if ROW_ID in frame.columns else [])].to_csv(tmp, index=False)
    tmp.replace(dataset_dir / EXAMPLES_FILE)


def row_ids(frame: pd.DataFrame) -> list[str]:
    """Each row's identity across versions: its row_id, or (version 1) its position in the file."""
    if ROW_ID in frame.columns:
        return frame[ROW_ID].astype(str).tolist()
    return [str(i) for i in range(len(frame))]
