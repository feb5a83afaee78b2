"""A run's saved model on disk: where it lives, whether it is complete, and what a full disk looks like.

runs/<id>/model/ (+ runs/<id>/adapter/) is written by core.training.saving; model/tuneboard.json is written
last, inside a staging folder that is renamed into place only when everything is on disk, so "tuneboard.json
and the weights are there" means "the save finished". Nothing here imports torch: the Results and Runs pages
and the command line ask these questions cheaply.
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

from storage.paths import ADAPTER_DIR, INFO_FILE, MODEL_DIR, data_home

WEIGHTS_SUFFIX = ".safetensors"  # every saved model (and adapter) keeps its weights in safetensors files
# Errors that mean "no room left": the disk is full, a file grew past the allowed size, or a quota is used up.
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EFBIG, errno.EDQUOT})
DISK_FULL_SAVING = "The disk is full: Tuneboard could not save the model; free some space and retry."
DISK_FULL_WRITING = "The disk is full: Tuneboard could not write the run's files; free some space and retry."


class DiskFullError(RuntimeError):
    """Writing a run's files failed for lack of space. The message is one plain sentence for the user."""


def missing_model_message(run_id: int) -> str:
    return f"The model files of run {run_id} are missing; retrain it (Retry on Runs)."


def model_missing_note(run_id: int, artifact_dir: str) -> str | None:
    """The sentence to show for a succeeded run whose saved model is gone; None when it is there."""
    if artifact_dir and not model_files_missing(data_home() / artifact_dir):
        return None
    return missing_model_message(run_id)


def model_files_missing(output_dir: Path | str) -> bool:
    """True when the saved model cannot be complete: model/tuneboard.json or its weights (or a needed adapter)
    are gone, e.g. because someone deleted the run's folder by hand."""
    model_dir = Path(output_dir) / MODEL_DIR
    info_path = model_dir / INFO_FILE
    if not info_path.is_file() or not _has_weights(model_dir):
        return True
    try:
        needs_adapter = bool(json.loads(info_path.read_text()).get("needs_adapter"))
    except (OSError, ValueError):
        return True  # unreadable: as good as missing
    return needs_adapter and not _has_weights(Path(output_dir) / ADAPTER_DIR)


def _has_weights(folder: Path) -> bool:
    return folder.is_dir() and any(p.suffix == WEIGHTS_SUFFIX for p in folder.iterdir())


def is_disk_full(error: BaseException) -> bool:
    """Whether `error`, or an error it was raised from, is a full disk.

    Python raises OSError with an errno; libraries written in Rust (safetensors, tokenizers) raise their own
    exception types whose message ends "(os error 28)", so both are recognised.
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in DISK_FULL_ERRNOS:
            return True
        text = str(current)
        if any(f"os error {code})" in text or os.strerror(code) in text for code in DISK_FULL_ERRNOS):
            return True
        current = current.__cause__ or current.__context__
    return False
