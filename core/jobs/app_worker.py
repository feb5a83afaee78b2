"""The background worker as the app starts it: one detached `python -m core worker` per data folder, started when none
is alive, which stops when the app's process does (core.jobs.worker.WorkerSettings.stop_with); and the sidebar's
sentence about the workers. Split from core/jobs/worker.py, which holds the worker itself."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field

from core.jobs.worker import PROJECT_ROOT
from storage.models import RUNNING
from storage.paths import data_home
from storage.processes import process_alive, process_identity
from storage.runs import list_runs
from storage.workers import alive_workers


@dataclass
class WorkerState:
    alive: int  # workers with a recent heartbeat
    started: bool = False  # this call started one
    pid: int | None = None
    busy_runs: list[int] = field(default_factory=list)

    def describe(self) -> str:
        if self.started:
            return "Worker: starting in the background."
        if not self.alive:
            return "Worker: none running; queued runs wait. Start one with `python -m core worker`."
        busy = f", training run {', '.join(map(str, self.busy_runs))}" if self.busy_runs else ", idle"
        return f"Worker: {self.alive} running{busy}."


def worker_state() -> WorkerState:
    running = [r.id for r in list_runs(statuses=(RUNNING,))]
    return WorkerState(alive=len(alive_workers()), busy_runs=sorted(running))


def ensure_worker() -> WorkerState:
    """Start one detached `python -m core worker` unless one is alive or was just started.

    Safe to call from every browser session: a file lock serialises callers (also across app processes),
    the database heartbeat says whether a worker is alive, and a pid file covers the seconds between
    starting one and its first heartbeat. The worker runs in its own session and stops within a few seconds of
    the app process that started it (WorkerSettings.stop_with); its running runs are then marked interrupted.
    """
    import fcntl  # POSIX only, like the rest of the process handling

    home = data_home()
    with (home / "worker.lock").open("a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        state = worker_state()
        if state.alive:
            return state
        pid_file = home / "worker.pid"
        if pid_file.exists() and process_alive(pid_file.read_text().strip()):
            return WorkerState(alive=0, started=True)
        with (home / "worker.log").open("ab") as out:
            # --stop-with: it stops when this app process does (its own session keeps it from taking Ctrl+C mid-step).
            process = subprocess.Popen([sys.executable, "-m", "core", "worker", "--stop-with", process_identity()],
                                       cwd=PROJECT_ROOT,
                                       stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                       start_new_session=True)
        pid_file.write_text(process_identity(process.pid))
        return WorkerState(alive=0, started=True, pid=process.pid)
