"""A training function for the disk-full tests: core.training.train_run in a process that cannot write big files.

How the full disk is simulated, and why this way: before training, the training process lowers its own
RLIMIT_FSIZE (the largest file it may write) when the data folder holds a `disk_limit_bytes` file. The kernel
then refuses any write past that size with EFBIG, in this process only, exactly where a full disk refuses one
with ENOSPC: inside Python's own writes and inside the Rust code of safetensors and tokenizers alike, with
none of our code mocked. (Patching Python's write functions would not reach those Rust writers.) Python
ignores SIGXFSZ from its start, so the failing write raises an error instead of killing the process; it is
set again below so this does not rest on that detail. The limit is read when each run starts, so a test can
"free space" between two runs of the same worker by deleting the file.
"""

from __future__ import annotations

import resource
import signal
from pathlib import Path

from storage.paths import data_home

LIMIT_FILE = "disk_limit_bytes"


def set_disk_limit(limit_bytes: int | None) -> None:
    """Runs started from now on cannot write files bigger than `limit_bytes` (None: no limit)."""
    path = data_home() / LIMIT_FILE
    if limit_bytes is None:
        path.unlink(missing_ok=True)
    else:
        path.write_text(str(limit_bytes))


def train_on_a_small_disk(dataset_dir: Path, labels: list[str], task: str, config, output_dir: Path, reporter,
                          resume: bool = False):
    limit_file = data_home() / LIMIT_FILE
    if limit_file.is_file():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        _, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        resource.setrlimit(resource.RLIMIT_FSIZE, (int(limit_file.read_text()), hard))
    from core.training import train_run

    return train_run(dataset_dir, labels, task, config, output_dir, reporter, resume=resume)
