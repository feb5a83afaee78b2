"""Where Tuneboard keeps its files: one data folder, overridable with TUNEBOARD_HOME, and the layout of a run's
folder (runs/<id>/), named here once for the worker, training, saving, the pages and the CLI."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_HOME = Path.home() / ".tuneboard"

# A run's folder, runs/<id>/ (see RunFiles).
LOG_FILE = "train.log"  # the worker's and the training process's lines, appended
CHECKPOINT_DIR = "checkpoint"  # resume state, replaced every epoch (core.training.checkpoint owns what is inside)
MODEL_DIR = "model"  # the saved model (core.training.saving); INFO_FILE inside it is written last
ADAPTER_DIR = "adapter"  # a PEFT adapter, kept apart when the method's weights are not merged into model/
INFO_FILE = "tuneboard.json"  # inside MODEL_DIR: task, labels, model, method and config of the saved model


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


def run_dir(run_id: int) -> Path:
    """Everything of one run, laid out as RunFiles says."""
    return runs_dir() / str(run_id)


def run_files(run_id: int) -> RunFiles:
    return RunFiles(run_dir(run_id))


@dataclass(frozen=True)
class RunFiles:
    """The files of one run's folder (or of any folder training writes to, e.g. a test's tmp_path)."""

    folder: Path

    @property
    def log(self) -> Path:
        return self.folder / LOG_FILE

    @property
    def checkpoint(self) -> Path:
        return self.folder / CHECKPOINT_DIR

    @property
    def model(self) -> Path:
        return self.folder / MODEL_DIR

    @property
    def adapter(self) -> Path:
        return self.folder / ADAPTER_DIR

    @property
    def info(self) -> Path:
        return self.model / INFO_FILE

    def has_checkpoint(self) -> bool:
        """Any checkpoint at all: what is inside is the training engine's business (a test stand-in writes its own)."""
        return self.checkpoint.is_dir() and any(self.checkpoint.iterdir())

    def log_tail(self, lines: int = 40) -> str:
        """The log's last `lines` lines ("" before it exists)."""
        if not self.log.exists():
            return ""
        with self.log.open("rb") as f:  # read only the end: a long run's log can be large
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 200 * lines))
            text = f.read().decode("utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])


def cache_dir() -> Path:
    """What is computed once and reused: backbone features for head-only training, keyed by (dataset, model), and
    each text dataset's zero-shot baseline (baselines/)."""
    path = data_home() / "cache"
    path.mkdir(exist_ok=True)
    return path


def database_url() -> str:
    """DATABASE_URL wins; otherwise a SQLite file inside the data folder."""
    return os.environ.get("DATABASE_URL") or f"sqlite:///{data_home() / 'tuneboard.db'}"
