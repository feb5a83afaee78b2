"""Run one claimed training run and record its outcome: `execute_run(run_id, worker_id)`.

The worker starts it in a child process (`python -m core.jobs.runner RUN_ID --worker-id W`), so a crash or an
out-of-memory kill cannot take the worker down and Cancel can always stop it; the CLI calls it in-process.
Training talks to the database only through `DbReporter`, which throttles writes so bookkeeping stays far
below 1% of training time.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TextIO

from core.artifacts import DISK_FULL_WRITING, is_disk_full
from core.jobs.out_of_memory import batch_size, free_gpu_memory, halve_batch, is_cuda_oom
from core.training.progress import Progress
from core.run_config import RunConfig
from storage import run_queue
from storage.models import CANCELLED, FAILED, RUNNING, SUCCEEDED
from storage.paths import data_home, run_dir, run_files
from storage.runs import get_run
from storage.workers import heartbeat

DEFAULT_TRAIN_FN = "core.training:train_run"
MAX_OOM_RETRIES = 3  # halve the batch at most this many times


@dataclass
class RunOutcome:
    status: str  # succeeded | failed | cancelled, or "" when the run was no longer ours to record
    error: str = ""
    bookkeeping_seconds: float = 0.0  # time spent inside DbReporter calls
    wall_seconds: float = 0.0  # time spent inside the training function
    progress_writes: int = 0  # progress rows written (throttled: about one a second)


class DbReporter:
    """core.training.progress.Reporter that writes to the database at a bounded rate.

    progress: at most one row update per `progress_interval` s (and at once when the phase message changes);
    metric points: buffered, written with the next progress update or at once for validation metrics;
    should_stop: the cancel flag re-read at most every `cancel_interval` s, the answer cached in between.
    """

    def __init__(self, run_id: int, worker_id: str, log_stream: TextIO, *, echo: Callable[[str], None] | None = None,
                 parent_pid: int | None = None, progress_interval: float = 1.0, cancel_interval: float = 0.5):
        self.run_id, self.worker_id = run_id, worker_id
        self.log_stream, self.echo, self.parent_pid = log_stream, echo, parent_pid
        self.progress_interval, self.cancel_interval = progress_interval, cancel_interval
        self.bookkeeping_seconds = 0.0
        self.progress_writes = 0
        self.cancel_seen = False  # the user asked to cancel
        self.lost = False  # the run is no longer ours (marked interrupted, or our worker died): stop quietly
        self._latest: Progress | None = None
        self._written_message = ""
        self._last_write = float("-inf")
        self._last_check = float("-inf")
        self._points: list[tuple[int, float, str, float]] = []

    # -- Reporter protocol
    def progress(self, p: Progress) -> None:
        start = time.perf_counter()
        self._latest = p
        if (p.message and p.message != self._written_message) or start - self._last_write >= self.progress_interval:
            self._write()
        self.bookkeeping_seconds += time.perf_counter() - start

    def metrics(self, step: int, epoch: float, values: dict[str, float]) -> None:
        start = time.perf_counter()
        self._points.extend((step, epoch, name, float(value)) for name, value in values.items())
        # Validation points come once an epoch and are what the user waits for: write them now.
        if any(name.startswith("val_") for name in values) or len(self._points) >= 500:
            self._write()
        self.bookkeeping_seconds += time.perf_counter() - start

    def log(self, line: str) -> None:
        start = time.perf_counter()
        self.log_stream.write(f"{datetime.now():%H:%M:%S} {line}\n")
        self.log_stream.flush()
        if self.echo:
            self.echo(line)
        self.bookkeeping_seconds += time.perf_counter() - start

    def should_stop(self) -> bool:
        start = time.perf_counter()
        if not (self.cancel_seen or self.lost) and start - self._last_check >= self.cancel_interval:
            self._last_check = start
            if self.parent_pid is not None and os.getppid() != self.parent_pid:
                self.lost = True  # the worker died; its successor marks this run interrupted
            elif run_queue.is_cancel_requested(self.run_id):
                self.cancel_seen = True
        self.bookkeeping_seconds += time.perf_counter() - start
        return self.cancel_seen or self.lost

    # -- the rest
    def flush(self) -> None:
        start = time.perf_counter()
        self._write()
        self.bookkeeping_seconds += time.perf_counter() - start

    def _write(self) -> None:
        self._last_write = time.perf_counter()
        points, self._points = self._points, []
        run_queue.add_metric_points(self.run_id, points)
        p = self._latest
        if p is not None:
            self.progress_writes += 1
            still_ours = run_queue.report_progress(
                self.run_id, self.worker_id, step=p.step, total_steps=p.total_steps, epoch=p.epoch,
                message=p.message, eta_seconds=p.eta_seconds, samples_per_second=p.samples_per_second)
            self._written_message = p.message or self._written_message
            self.lost = self.lost or not still_ours


def execute_run(run_id: int, worker_id: str, *, train_fn: Callable[..., Any] | str | None = None,
                echo: Callable[[str], None] | None = None, parent_pid: int | None = None,
                heartbeat_seconds: float | None = None) -> RunOutcome:
    """Train a run already claimed by `worker_id` and record succeeded / failed / cancelled.

    `train_fn` defaults to core.training.train_run (also accepted as "module:function").
    `heartbeat_seconds`: keep the run's heartbeat fresh from a thread (the CLI; a worker does it itself).
    """
    run = get_run(run_id)
    if run is None or run.status != RUNNING or run.worker_id != worker_id:
        return RunOutcome(status="", error=f"Run {run_id} is not claimed by {worker_id}.")
    output_dir = run_dir(run_id)
    output_dir.mkdir(parents=True, exist_ok=True)
    stop_heartbeat = threading.Event()
    if heartbeat_seconds:
        threading.Thread(target=_heartbeat_loop, args=(worker_id, run_id, heartbeat_seconds, stop_heartbeat),
                         daemon=True).start()
    try:
        with run_files(run_id).log.open("a", encoding="utf-8") as log_stream:
            reporter = DbReporter(run_id, worker_id, log_stream, echo=echo, parent_pid=parent_pid)
            return _train_and_record(run, reporter, output_dir, train_fn)
    finally:
        stop_heartbeat.set()


def _train_and_record(run, reporter: DbReporter, output_dir, train_fn: Callable[..., Any] | str | None) -> RunOutcome:
    run_id, worker_id = run.id, reporter.worker_id
    config = RunConfig.from_dict(run.config)
    dataset_dir = data_home() / run.dataset.path
    resume = bool(run.resume_requested) and run_files(run_id).has_checkpoint()
    reporter.log(f"Run {run_id} (attempt {run.attempt}) on dataset '{run.dataset.name}': {config.method} on "
                 f"{config.model}, preset {config.preset}" + (", resuming from the last checkpoint" if resume else ""))
    missing = _missing_dataset(run)
    if missing:  # its folder was deleted by hand: say so, rather than fail later with a file-not-found traceback
        reporter.log(missing)
        return RunOutcome(FAILED if run_queue.fail(run_id, worker_id, missing) else "", error=missing)
    started = time.perf_counter()
    for oom_retry in range(MAX_OOM_RETRIES + 1):
        try:
            train = _resolve(train_fn)  # inside the try: a training engine that fails to import fails the run
            result = train(dataset_dir, list(run.dataset.labels), run.dataset.task, config, output_dir, reporter,
                           resume=resume)
            break
        except Exception as error:  # noqa: BLE001 - every failure is recorded; none may escape to the worker
            outcome = _handle_error(error, run, config, reporter, started, oom_retry)
            if isinstance(outcome, RunConfig):
                config, resume = outcome, False  # retry from scratch with a smaller batch
                continue
            return outcome
    else:  # pragma: no cover - the loop always breaks or returns
        raise AssertionError
    wall = time.perf_counter() - started
    reporter.flush()
    spent = dict(bookkeeping_seconds=reporter.bookkeeping_seconds, wall_seconds=wall,
                 progress_writes=reporter.progress_writes)
    if reporter.lost:
        return RunOutcome(status="", **spent)
    share = 100 * reporter.bookkeeping_seconds / wall if wall else 0.0
    reporter.log(f"Finished in {wall:.1f} s; database bookkeeping took {reporter.bookkeeping_seconds:.3f} s ({share:.2f}%).")
    recorded = run_queue.finish(
        run_id, worker_id, metrics=result.metrics, predictions=result.predictions,
        validation_predictions=result.validation_predictions, calibration=result.calibration,
        trainable_params=result.trainable_params, total_params=result.total_params,
        train_seconds=result.train_seconds, samples_per_second=result.samples_per_second, device=result.device,
        artifact_dir=output_dir, size_bytes=result.size_bytes, threshold=getattr(result, "threshold", None),
        training=getattr(result, "hyperparameters", None), then=_follow_up(run, config, reporter))
    return RunOutcome(SUCCEEDED if recorded else "", **spent)


def _follow_up(run, config: RunConfig, reporter: DbReporter) -> run_queue.FollowUp | None:
    """"Fastest good model" (core/methods/quick_choice.py): the run that follows this one when it fell short on
    validation, queued by `finish` in the same write that records this one."""
    if not config.then_method:
        return None
    from core.jobs.submit import estimate_or_none  # imported here: training modules would slow every worker's start
    from core.methods.quick_choice import decision_text, follow_up, follow_up_name
    from storage.results import best_validation_f1

    score = best_validation_f1(run.id)  # its validation points are written as each epoch ends
    reporter.log(decision_text(config, score))
    then = follow_up(config, score, run.id)
    if then is None:
        return None
    return run_queue.FollowUp(then.to_dict(), follow_up_name(then, run.id), estimate_or_none(run.dataset, then))


def _missing_dataset(run) -> str | None:
    from core.datasets.files import dataset_missing_note  # imported here: pandas would slow every worker's start

    return dataset_missing_note(run.dataset.name, run.dataset.path)


def _handle_error(error: Exception, run, config: RunConfig, reporter: DbReporter, started: float,
                  oom_retry: int) -> RunOutcome | RunConfig:
    """Cancelled, out of GPU memory (-> a smaller config to retry with), or failed with one plain sentence."""
    wall = time.perf_counter() - started
    spent = dict(bookkeeping_seconds=reporter.bookkeeping_seconds, wall_seconds=wall,
                 progress_writes=reporter.progress_writes)
    if reporter.lost:
        reporter.log("Stopped: this run is no longer owned by this worker.")
        return RunOutcome(status="", **spent)
    if reporter.cancel_seen or type(error).__name__ == "TrainingCancelled":
        reporter.log("Cancelled by the user.")
        return RunOutcome(CANCELLED if run_queue.mark_cancelled(run.id, reporter.worker_id) else "", **spent)
    if is_cuda_oom(error) and oom_retry < MAX_OOM_RETRIES:
        smaller = halve_batch(config, run.dataset.task)
        if smaller is not None:
            free_gpu_memory()
            reporter.log(f"Out of GPU memory with batch size {batch_size(config, run.dataset.task)}; retrying with "
                         f"batch size {smaller.batch_size} and gradient accumulation {smaller.grad_accum} "
                         f"(same effective batch of {smaller.batch_size * smaller.grad_accum}).")
            run_queue.update_config(run.id, reporter.worker_id, smaller.to_dict())
            return smaller
    reporter.log("Training failed:\n" + "".join(traceback.format_exception(error)).rstrip())
    message = failure_message(error)
    return RunOutcome(FAILED if run_queue.fail(run.id, reporter.worker_id, message) else "", error=message, **spent)


def failure_message(error: BaseException) -> str:
    """One plain sentence for the user. Our own errors (core.*) already say what to fix."""
    if is_cuda_oom(error):
        return "The GPU ran out of memory even with batch size 1; choose a smaller model or a shorter max length."
    if type(error).__module__.startswith("core.") and str(error):
        return str(error).strip().splitlines()[0]  # e.g. core.artifacts.DiskFullError while saving the model
    if is_disk_full(error):  # a checkpoint, the feature cache, or a library writing on its own
        return DISK_FULL_WRITING
    return f"Training stopped with an unexpected error ({type(error).__name__}); the run's log has the details."


def _resolve(train_fn: Callable[..., Any] | str | None) -> Callable[..., Any]:
    if callable(train_fn):
        return train_fn
    module_name, _, attribute = (train_fn or DEFAULT_TRAIN_FN).partition(":")
    return getattr(importlib.import_module(module_name), attribute)


def _heartbeat_loop(worker_id: str, run_id: int, every: float, stop: threading.Event) -> None:
    while not stop.wait(every):
        try:
            heartbeat(worker_id, [run_id])
        except Exception:  # noqa: BLE001 - a missed heartbeat must not kill training; the next one retries
            pass


def die_with_parent(parent_pid: int) -> None:
    """Linux: the kernel kills this child when the worker dies (even by kill -9), so no orphan keeps training."""
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:  # the parent died before the line above ran
        sys.exit(3)


def follow_run(run_id: int, train_fn: Callable[..., Any] | str | None) -> int:
    """One of the other processes of a data-parallel run (core/training/distributed.py): train alongside the main
    process, which alone records progress and the outcome. A Cancel reaches this process through the main one."""
    from core.training.progress import NullReporter

    run = get_run(run_id)
    config = RunConfig.from_dict(run.config)
    resume = bool(run.resume_requested) and run_files(run_id).has_checkpoint()
    try:
        _resolve(train_fn)(data_home() / run.dataset.path, list(run.dataset.labels), run.dataset.task, config,
                           run_dir(run_id), NullReporter(), resume=resume)
    except Exception as error:  # noqa: BLE001 - the main process records a cancel; anything else fails the launch
        if type(error).__name__ == "TrainingCancelled":
            return 0
        raise
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.jobs.runner", description="Train one claimed run (started by the worker).")
    parser.add_argument("run_id", type=int)
    parser.add_argument("--worker-id", required=True)
    parser.add_argument("--parent-pid", type=int, default=None)
    parser.add_argument("--train-fn", default=DEFAULT_TRAIN_FN, help="module:function with train_run's signature")
    args = parser.parse_args(argv)
    if "RANK" in os.environ:  # one of a data-parallel run's processes, started by torchrun
        return _data_parallel_process(args)
    if args.parent_pid is not None:
        die_with_parent(args.parent_pid)
    outcome = execute_run(args.run_id, args.worker_id, train_fn=args.train_fn, parent_pid=args.parent_pid)
    return 0 if outcome.status in (SUCCEEDED, FAILED, CANCELLED) else 4


def _data_parallel_process(args: argparse.Namespace) -> int:
    from core.training import distributed

    agent = os.getppid()  # torchrun's: when it dies (the worker was killed), so does this process
    die_with_parent(agent)
    distributed.start()
    try:
        if not distributed.is_main():
            return follow_run(args.run_id, args.train_fn)
        outcome = execute_run(args.run_id, args.worker_id, train_fn=args.train_fn, parent_pid=agent)
        return 0 if outcome.status in (SUCCEEDED, FAILED, CANCELLED) else 4
    finally:
        distributed.stop()


if __name__ == "__main__":
    sys.exit(main())
