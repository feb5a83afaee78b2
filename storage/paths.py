"""Where Tuneboard keeps its files: one data folder, overridable with TUNEBOARD_HOME."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_HOME = Path.home() / ".tuneboard"


def data_home() -> Path:
    """The data folder (datasets, run artifacts, logs, the SQLite file); created on first use."""
    home = Path(os.environ.get("TUNEBOARD_HOME", DEFAULT_HOME)).expanduser().resolve()
    home.mkdir(parents=True, exist_ok=True)
    return home


def datasets_dir() -> Path:
    path = data_home() / "datasets"
    path.mkdir(exist_ok=True)
    return path


def runs_dir() -> Path:
    path = data_home() / "runs"
    path.mkdir(exist_ok=True)
    return path


def cache_dir() -> Path:
    """What is computed once and reused: backbone features for head-only training, keyed by (dataset, model), and
    each text dataset's zero-shot baseline (baselines/)."""
    path = data_home() / "cache"
    path.mkdir(exist_ok=True)
    return path


def database_url() -> str:
    """DATABASE_URL wins; otherwise a SQLite file inside the data folder."""
    return os.environ.get("DATABASE_URL") or f"sqlite:///{data_home() / 'tuneboard.db'}"
