"""The background worker: `python -m core worker [--concurrency N] [--once] [--poll-seconds S]`.

1) claims queued runs from the database (exactly once across processes, see storage.run_queue.claim_next);
2) trains each in a child process (`python -m core.jobs.runner`), its output appended to runs/<id>/train.log;
3) heartbeats itself and its runs, so a dead worker's runs are marked interrupted (on this host by pid, elsewhere
   by the heartbeat timeout); those set to resume automatically are then resumed by any worker;
4) stops a child on Cancel: it first lets it stop at its next step, then SIGTERM, then SIGKILL;
5) records a crashed child as failed and keeps going;
6) builds queued exports of finished runs (`python -m core.jobs.export_runner`), one at a time beside training:
   an export takes a minute or two and should not wait behind an hour of training;
7) drives settings searches every few seconds (core.search.coordinator.step: one worker at a time per search).

TUNEBOARD_TRAIN_FN=module:function makes the worker train with another function of core.training.train_run's
signature: tests use it so that the worker the app starts trains with a fast stand-in.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from core.jobs.devices import describe_device, visible_gpus
from core.jobs.export_runner import EXPORT_LOG
from core.jobs.runner import DEFAULT_TRAIN_FN
from storage import export_queue, run_queue, searches
from storage.data_folder import DataFolderMismatch, bind_data_folder
from storage.models import CANCELLED, EXPORT_INTERRUPTED, EXPORT_RUNNING, RUNNING
from storage.paths import data_home, run_files
from storage.processes import process_alive, process_identity
from storage.runs import get_run
from storage.workers import alive_workers, heartbeat, register_worker, stop_worker

PROJECT_ROOT = Path(__file__).resolve().parents[2]  # core/jobs/worker.py -> the project folder
# While training, how often the worker looks for cancel requests: a cancel is noticed within this time, and a
# child that does not stop on its own is killed within cancel_grace + kill_grace more seconds.
BUSY_POLL_SECONDS = 0.5
TRAIN_FN_ENV = "TUNEBOARD_TRAIN_FN"
EXPORT_SLOTS = 1  # exports built at a time, besides the training runs
log = logging.getLogger("tuneboard.worker")


@dataclass
class WorkerSettings:
    concurrency: int | None = None  # runs at a time; None = one per GPU, or one on a CPU-only machine
    poll_seconds: float = 1.0  # how often an idle worker looks for queued runs
    once: bool = False  # exit when the queue is empty and every run it started has ended
    heartbeat_seconds: float = 2.0
    cancel_grace_seconds: float = 1.0  # after a cancel, time the child gets to stop on its own before SIGTERM
    kill_grace_seconds: float = 1.5  # after SIGTERM, time before SIGKILL
    orphan_check_seconds: float = 30.0  # how often to look for runs of workers that died elsewhere
    heartbeat_timeout_seconds: float = run_queue.RUN_STALE_SECONDS  # a run elsewhere this silent lost its worker
    # The app process that started this worker (storage.processes.process_identity): the worker stops when it does,
    # so stopping the app (Ctrl+C) leaves no training behind; its runs are marked interrupted and can be resumed.
    # None for a worker started by hand (`python -m core worker`), which runs until it is stopped itself.
    stop_with: str | None = None
    search_step_seconds: float = 3.0  # how often to drive running settings searches
    # module:function the child trains with
    train_fn: str = field(default_factory=lambda: os.environ.get(TRAIN_FN_ENV) or DEFAULT_TRAIN_FN)


@dataclass
class Child:
    run_id: int
    process: subprocess.Popen
    gpu: str | None
    cancel_seen_at: float | None = None
    terminated_at: float | None = None
    killed: bool = False


class Worker:
    def __init__(self, settings: WorkerSettings | None = None):
        self.settings = settings or WorkerSettings()
        self.gpus = visible_gpus()
        self.concurrency = self.settings.concurrency or max(1, len(self.gpus))
        self.worker_id = process_identity()
        self.children: dict[int, Child] = {}
        self.exports: dict[int, subprocess.Popen] = {}  # export id -> its builder process
        self.stopping = False
        self._last_heartbeat = self._last_orphan_check = self._last_search_step = float("-inf")

    # 1) the loop
    def run(self) -> int:
        try:
            bind_data_folder(self.worker_id)
        except DataFolderMismatch as refused:
            log.error("%s", refused)
            return 2
        register_worker(self.worker_id, device=(device := describe_device(self.gpus)), data_home=str(data_home()))
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._request_stop)
        self._interrupt_orphans()
        log.info("worker %s started: %d run(s) at a time on %s", self.worker_id, self.concurrency, device)
        try:
            while not self.stopping:
                queue_empty = self._tick()
                if self.settings.once and queue_empty and not self.children and not self.exports:
                    break
                busy = self.children or self.exports
                time.sleep(BUSY_POLL_SECONDS if busy else self.settings.poll_seconds)
        finally:
            self._shutdown()
        return 0

    def _tick(self) -> bool:
        """One pass; True when no queued run or export was left to claim."""
        self._reap()
        self._reap_exports()
        self._enforce_cancels()
        now = time.monotonic()
        if now - self._last_heartbeat >= self.settings.heartbeat_seconds:
            if self.settings.stop_with and process_alive(self.settings.stop_with) is False:
                log.info("the app that started this worker (%s) has stopped: stopping too", self.settings.stop_with)
                self.stopping = True
                return True
            heartbeat(self.worker_id, list(self.children))
            export_queue.heartbeat_exports(self.worker_id, list(self.exports))
            self._last_heartbeat = now
        if now - self._last_orphan_check >= min(self.settings.orphan_check_seconds,
                                                self.settings.heartbeat_timeout_seconds / 2):
            self._interrupt_orphans()
        exports_left = self._start_exports()
        if now - self._last_search_step >= self.settings.search_step_seconds and not self.stopping:
            self._drive_searches()
            self._last_search_step = time.monotonic()
        while len(self.children) < self.concurrency and not self.stopping:
            claimed = run_queue.claim_next(self.worker_id)
            if claimed is None:
                return not exports_left and not searches.running_search_ids()
            self._start(*claimed)
            self._last_heartbeat = float("-inf")  # the worker's row names its new run at once
        return False

    def _interrupt_orphans(self) -> None:
        """Mark interrupted the runs (and exports) of dead workers: here by pid, elsewhere by heartbeat."""
        interrupted = run_queue.interrupt_orphaned_runs(self.settings.heartbeat_timeout_seconds)
        export_queue.interrupt_orphaned_exports()
        self._last_orphan_check = time.monotonic()
        for run in filter(None, map(get_run, interrupted)):
            self._append_log(run.id, f"Interrupted: its worker ({run.worker_id}) stopped"
                             + (": resuming it automatically." if run.resume_requested else "."))
        if interrupted:
            log.info("marked runs %s interrupted: their worker had stopped", interrupted)

    def _drive_searches(self) -> None:
        try:  # a search's failure never stops the worker's own work
            if not searches.running_search_ids():
                return
            from core.jobs.submit import estimate_or_none
            from core.search.coordinator import step  # optuna and the estimate load only when a search runs

            step(self.worker_id, estimate_or_none, capacity=max(self.concurrency, len(alive_workers())))
        except Exception:  # noqa: BLE001 - logged; the next step retries from the database
            log.exception("driving the settings searches failed")

    def _start_exports(self) -> bool:
        """Start queued exports while a slot is free; True when one may still be waiting."""
        while len(self.exports) < EXPORT_SLOTS and not self.stopping:
            export_id = export_queue.claim_next_export(self.worker_id)
            if export_id is None:
                return False
            job = export_queue.get_export(export_id)
            folder = export_queue.export_folder(job.run_id, export_id)
            folder.mkdir(parents=True, exist_ok=True)
            command = [sys.executable, "-m", "core.jobs.export_runner", str(export_id), "--worker-id", self.worker_id]
            with (folder / EXPORT_LOG).open("ab") as out:
                self.exports[export_id] = subprocess.Popen(
                    command, cwd=PROJECT_ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"}, stdin=subprocess.DEVNULL,
                    stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
            log.info("export %d (run %d, %s): building in process %d", export_id, job.run_id, job.format,
                     self.exports[export_id].pid)
        return True

    def _reap_exports(self) -> None:
        for export_id, process in list(self.exports.items()):
            code = process.poll()
            if code is None:
                continue
            del self.exports[export_id]
            job = export_queue.get_export(export_id)
            if job is not None and job.status == EXPORT_RUNNING and job.worker_id == self.worker_id:
                reason = "was killed (often: the machine ran out of memory)" if code < 0 else f"exited with code {code}"
                export_queue.fail_export(export_id, self.worker_id, f"The export process {reason}; ask for it again.")
                log.warning("export %d failed: its process %s", export_id, reason)

    # 2) children
    def _start(self, run_id: int, resume: bool) -> None:
        devices = self._devices_asked(run_id)
        busy = {g for c in self.children.values() if c.gpu for g in c.gpu.split(",")}
        free = [g for g in self.gpus if g not in busy]
        gpu = ",".join(free[:devices]) if free else None  # a run on several devices gets as many free GPUs
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        if gpu is not None:
            env["CUDA_VISIBLE_DEVICES"] = gpu
        elif self.concurrency > 1 and "OMP_NUM_THREADS" not in env:
            env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // self.concurrency))  # share the cores
        # Several devices: torchrun starts the processes (core/jobs/distributed_launch.py), else one runner.
        launcher = "core.jobs.distributed_launch" if devices > 1 else "core.jobs.runner"
        command = [sys.executable, "-m", launcher, str(run_id), "--worker-id", self.worker_id,
                   "--parent-pid", str(os.getpid()), "--train-fn", self.settings.train_fn]
        log_file = run_files(run_id).log
        log_file.parent.mkdir(parents=True, exist_ok=True)
        with log_file.open("ab") as out:  # the child keeps its own copy of the descriptor
            # Own session: a Ctrl-C in the worker's terminal reaches only the worker, which then stops children itself.
            process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        self.children[run_id] = Child(run_id, process, gpu)
        log.info("run %d: %s in process %d%s", run_id, "resuming" if resume else "training", process.pid,
                 f" on GPU {gpu}" if gpu is not None else "")

    @staticmethod
    def _devices_asked(run_id: int) -> int:
        run = get_run(run_id)
        return max(1, int((run.config or {}).get("devices") or 1)) if run is not None else 1

    def _reap(self) -> None:
        for run_id, child in list(self.children.items()):
            code = child.process.poll()
            if code is None:
                continue
            del self.children[run_id]
            run = get_run(run_id)
            if run is None or run.status != RUNNING or run.worker_id != self.worker_id:
                log.info("run %d: %s", run_id, run.status if run else "deleted")
                if run is not None and run.status not in (CANCELLED,) and run.error:
                    log.info("run %d failed: %s", run_id, run.error)
                continue
            # The child ended without recording an outcome: it was killed, or crashed hard.
            if child.cancel_seen_at is not None:
                run_queue.mark_cancelled(run_id, self.worker_id)
                self._append_log(run_id, "Cancelled: the training process was stopped.")
                log.info("run %d: cancelled", run_id)
            else:
                reason = "was killed (often: the machine ran out of memory)" if code < 0 else f"exited with code {code}"
                message = f"The training process {reason}; the run's log has the details."
                run_queue.fail(run_id, self.worker_id, message)
                self._append_log(run_id, message)
                log.warning("run %d failed: %s", run_id, message)

    def _enforce_cancels(self) -> None:
        now = time.monotonic()
        for run_id in run_queue.cancel_requested_among(list(self.children)):
            child = self.children[run_id]
            if child.cancel_seen_at is None:
                child.cancel_seen_at = now
                log.info("run %d: cancel requested", run_id)
        for child in self.children.values():
            if child.cancel_seen_at is None or child.process.poll() is not None:
                continue
            if child.terminated_at is None and now - child.cancel_seen_at >= self.settings.cancel_grace_seconds:
                self._signal(child, signal.SIGTERM)
                child.terminated_at = now
            elif child.terminated_at is not None and not child.killed and now - child.terminated_at >= self.settings.kill_grace_seconds:
                self._signal(child, signal.SIGKILL)
                child.killed = True

    @staticmethod
    def _signal(child: Child, sig: signal.Signals) -> None:
        try:
            os.killpg(child.process.pid, sig)  # the whole group: data-loader processes too
        except ProcessLookupError:
            pass

    @staticmethod
    def _append_log(run_id: int, line: str) -> None:
        with run_files(run_id).log.open("a", encoding="utf-8") as f:
            f.write(f"{time.strftime('%H:%M:%S')} {line}\n")

    # 3) stopping
    def _request_stop(self, signum, _frame) -> None:
        log.info("received %s: stopping; running runs will be marked interrupted", signal.Signals(signum).name)
        self.stopping = True

    def _shutdown(self) -> None:
        for export_id, process in self.exports.items():
            try:
                os.killpg(process.pid, signal.SIGKILL)  # the group: its fresh-process checks too; it is rebuilt whole
            except ProcessLookupError:
                pass
            process.wait()
            export_queue.fail_export(export_id, self.worker_id, "Interrupted: the worker was stopped. Ask for the "
                                     "export again.", status=EXPORT_INTERRUPTED)
        self.exports.clear()
        for child in self.children.values():
            self._signal(child, signal.SIGTERM)
        deadline = time.monotonic() + self.settings.kill_grace_seconds
        for child in self.children.values():
            try:
                child.process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self._signal(child, signal.SIGKILL)
                child.process.wait()
        for run_id in list(self.children):
            if run_queue.mark_interrupted(run_id, self.worker_id, "Interrupted: the worker was stopped. Resume it from "
                                          "the last checkpoint or retry it."):
                self._append_log(run_id, "Interrupted: the worker was stopped.")
        self.children.clear()
        searches.release_all(self.worker_id)
        stop_worker(self.worker_id)
        log.info("worker %s stopped", self.worker_id)


def run_worker(settings: WorkerSettings | None = None) -> int:
    # Our own lines only (not every library's INFO chatter), to stderr: the app sends it to worker.log.
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s worker: %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
    return Worker(settings).run()
