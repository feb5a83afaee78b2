"""A full disk while saving the model fails the run cleanly: a plain message, nothing loadable left half-written,
and the worker goes on (a retry after freeing space succeeds in the same worker process).

The full disk is real as far as our code can tell: tests/full_disk.py lowers the training process's file-size
limit (RLIMIT_FSIZE), so the kernel refuses the model file's writes with EFBIG; see its docstring for why.
"""

from __future__ import annotations

import errno
import subprocess
import sys

import psutil
import pytest

from core.artifacts import DISK_FULL_SAVING, DISK_FULL_WRITING, DiskFullError, is_disk_full, model_files_missing
from core.catalog import ModelLoadError
from core.jobs.runner import failure_message
from storage.paths import run_dir, run_files
from storage.run_requests import enqueue, retry_run
from storage.runs import get_run
from tests.conftest import ROOT
from tests.full_disk import set_disk_limit
from tests.test_worker import wait_for
from tests.tiny_training import make_dataset

SMALL_DISK = "tests.full_disk:train_on_a_small_disk"
# tiny-bert saves a 4 MB model.safetensors (its 30k-token embedding) but writes nothing near 2 MB before that:
# LoRA checkpoints hold only the adapter and the head, and the database and log stay far smaller.
LIMIT_BYTES = 2_000_000
TINY_BERT_LORA = {"model": "tiny-bert", "method": "lora", "preset": "quick", "epochs": 1, "early_stopping_patience": 0}


class RustIoError(Exception):
    """Stands in for the exception types of Rust libraries (safetensors, tokenizers), which are not OSErrors."""


@pytest.mark.parametrize("error,expected", [
    (OSError(errno.ENOSPC, "No space left on device"), DISK_FULL_WRITING),
    (OSError(errno.EFBIG, "File too large"), DISK_FULL_WRITING),
    (RustIoError("Error while serializing: I/O error: No space left on device (os error 28)"), DISK_FULL_WRITING),
    (DiskFullError(DISK_FULL_SAVING), DISK_FULL_SAVING),
    (OSError(errno.EACCES, "Permission denied"), None),
], ids=["ENOSPC", "EFBIG", "rust-io", "while-saving", "not-a-full-disk"])
def test_failure_message_names_a_full_disk(error, expected):
    message = failure_message(error)
    unexpected = "Training stopped with an unexpected error (PermissionError); the run's log has the details."
    assert message == (expected or unexpected)


def test_a_full_disk_is_recognised_through_the_errors_it_caused():
    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError as inner:
            raise RuntimeError("could not write the checkpoint") from inner
    except RuntimeError as outer:
        assert is_disk_full(outer)
    assert not is_disk_full(RuntimeError("could not write the checkpoint"))


@pytest.fixture
def small_disk_worker(tmp_path):
    """One `python -m core worker`-equivalent process training with tests.full_disk's function; killed at the end.
    Its output goes to a file: a pipe nobody reads blocks the worker once it has printed 64 KB."""
    code = ("import sys; from core.jobs.worker import WorkerSettings, run_worker; "
            f"sys.exit(run_worker(WorkerSettings(poll_seconds=0.2, train_fn={SMALL_DISK!r})))")
    output = tmp_path / "worker.out"
    with open(output, "w") as sink:
        process = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT,
                                   text=True)
    process.output = output
    yield process
    if process.poll() is None:
        for child in psutil.Process(process.pid).children(recursive=True):
            child.kill()
        process.kill()
    process.wait(timeout=10)


def finished(run_id: int):
    run = get_run(run_id)
    return run if run.status not in ("queued", "running") else None


def _wait_for_the_end(run_id: int, worker: subprocess.Popen):
    try:
        return wait_for(lambda: finished(run_id), timeout=180, every=0.2)
    except AssertionError as error:
        state = get_run(run_id)
        raise AssertionError(f"run {run_id} still {state.status} ({state.message}) after 180 s; the worker "
                             f"{'exited ' + str(worker.returncode) if worker.poll() is not None else 'runs'}; "
                             f"its output ends:\n{worker.output.read_text()[-3000:]}") from error


@pytest.mark.slow  # the real engine (tiny-bert) in real processes: about 20 s on 2 cores
def test_a_full_disk_while_saving_fails_the_run_cleanly_and_the_worker_goes_on(small_disk_worker):
    from core.serving.inference import load_predictor

    dataset_id = make_dataset(rows=60)
    set_disk_limit(LIMIT_BYTES)
    full = enqueue(dataset_id, TINY_BERT_LORA)
    run = _wait_for_the_end(full, small_disk_worker)

    # 1) failed, in one plain sentence; the details (the kernel's refusal) are in the log
    assert (run.status, run.error) == ("failed", DISK_FULL_SAVING)
    log = run_files(full).log.read_text()
    assert run.message == "Failed" and "File too large" in log
    # 2) nothing that could be loaded as if complete, and no half-written files left taking space
    folder = run_dir(full)
    assert not run_files(full).model.exists() and not run_files(full).adapter.exists()
    assert [p.name for p in folder.iterdir() if p.name.startswith(".saving")] == []
    assert model_files_missing(folder)
    with pytest.raises(ModelLoadError, match="No saved model was found"):
        load_predictor(folder)

    # 3) the user frees space and presses Retry: the same worker trains it and the model loads
    set_disk_limit(None)
    retry = retry_run(full)
    again = _wait_for_the_end(retry, small_disk_worker)
    assert (again.status, again.error) == ("succeeded", "")
    assert again.worker_id == run.worker_id and small_disk_worker.poll() is None
    assert not model_files_missing(run_dir(retry))
    (probabilities,) = load_predictor(run_dir(retry)).predict(["win cash now 3"])
    assert set(probabilities) == {"ham", "spam"}
