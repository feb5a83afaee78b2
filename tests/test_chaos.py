"""Chaos: kill -9 the worker, the app, or both at random moments while runs train, restart them, repeat; then
let the queue drain (resuming or retrying interrupted runs as a user would) and check that no run was lost,
doubled, or left running.

Everything is real and local: `streamlit run app.py` (its page views, over Streamlit's websocket, start the
app's own worker through core.jobs.app_worker.ensure_worker), `python -m core worker` processes, and their training
processes. Training is tests.tiny_training.train_tiny, a real torch loop of 20 short steps that checkpoints as
it goes (TUNEBOARD_TRAIN_FN points every worker at it, the app's too). The kills are SIGKILL: nothing gets to
clean up. Kills land at random moments: while a worker claims a run or its training process starts, or at a
random point of a training (before or after a checkpoint, or while the result is recorded).

The random choices come from one seed, printed in every failure: `CHAOS_SEED=<seed> pytest tests/test_chaos.py`
replays the same kills and waits (the machine's timing still varies a little).
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest

from storage.models import ACTIVE_STATES, INTERRUPTED, RUNNING, SUCCEEDED
from storage.paths import run_dir, run_files
from storage.processes import process_alive
from storage.run_requests import JobError, enqueue, request_resume, retry_run
from storage.runs import list_runs, metric_points, predictions
from storage.workers import alive_workers
from tests.conftest import ROOT
from tests.live_app import LiveApp
from tests.tiny_training import make_dataset

pytestmark = [pytest.mark.slow, pytest.mark.serial,  # real processes killed and restarted: about a minute on 2 cores
              pytest.mark.both_databases]  # on SQLite and on PostgreSQL (tests/conftest.py)

SEED = int(os.environ.get("CHAOS_SEED", "20250611"))
ROUNDS = 8
QUEUED_RUNS = 4
CONFIG = {"model": "tiny", "method": "lora", "preset": "quick", "epochs": 2}  # 20 steps ...
STEPS = 20
STEP_SECONDS = "0.1"  # ... of 0.1 s: 2 s of training after a few seconds importing torch; a checkpoint every 5 steps
# A restarted app's first page view costs seconds of imports, so its own kills are rarer than the workers'.
VICTIMS = {"worker": 0.5, "app": 0.2, "both": 0.3}
DRAIN_SECONDS = 120


@dataclass
class Chaos:
    """The processes under test, what was done to them, and what the user asked for."""

    home: Path
    rng: random.Random
    app: LiveApp
    env: dict[str, str]
    own_workers: list[subprocess.Popen] = field(default_factory=list)
    created: list[int] = field(default_factory=list)  # every run queued: at the start, and by Retry
    retried: dict[int, int] = field(default_factory=dict)  # interrupted run -> its retry
    resumes: int = 0
    kills: dict[str, int] = field(default_factory=lambda: {"worker": 0, "app": 0})
    app_workers: set[str] = field(default_factory=set)  # identities of the workers the app started
    page_exceptions: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)  # training processes that outlived their killed worker
    log: list[str] = field(default_factory=list)  # what happened, for the failure message

    def note(self, line: str) -> None:
        self.log.append(f"{time.strftime('%H:%M:%S')} {line}")

    # -- the processes
    def start_worker(self, concurrency: int = 1) -> None:
        with (self.home.parent / "workers.log").open("ab") as out:
            self.own_workers.append(subprocess.Popen(
                [sys.executable, "-m", "core", "worker", "--poll-seconds", "0.2", "--concurrency", str(concurrency)],
                cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True))
        self.note(f"started worker {self.own_workers[-1].pid}")

    def view_runs_page(self) -> None:
        """A user opens the Runs page; the app starts its worker when none is alive."""
        began = time.monotonic()
        visit = self.app.visit("runs")
        self.page_exceptions += visit.exceptions
        self.note(f"viewed the Runs page in {time.monotonic() - began:.1f} s")
        pid_file = self.home / "worker.pid"
        if pid_file.exists():
            self.app_workers.add(pid_file.read_text().strip())

    def live_worker_pids(self) -> set[int]:
        """Every worker process alive now: ours, and the app's (from the workers table and the app's pid file)."""
        identities = {w.id for w in alive_workers()} | set(self.app_workers)
        pids = {int(i.rsplit(":", 2)[1]) for i in identities if process_alive(i)}
        return pids | {p.pid for p in self.own_workers if p.poll() is None}

    def kill_workers(self) -> None:
        pids = self.live_worker_pids()
        children = [c for pid in pids for c in _children(pid)]
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        for process in self.own_workers:
            if process.pid in pids:
                process.wait(timeout=10)
        self.kills["worker"] += bool(pids)
        self.note(f"kill -9 workers {sorted(pids)} (training processes {[c.pid for c in children]})")
        # A training process must die with its worker (core.jobs.runner asks the kernel for that), or it would go on
        # training a run that the next worker marks interrupted and trains again. One that had not yet made the
        # request notices the missing parent by itself within seconds.
        _, alive = psutil.wait_procs(children, timeout=10)
        self.orphans += [f"process {c.pid}" for c in alive if _running(c)]

    def kill_app(self) -> None:
        self.app.kill()
        self.kills["app"] += 1
        self.note("kill -9 app")

    def wait_for_a_moment(self) -> None:
        """Until a random moment: soon (a worker claiming, a training process importing torch), or a random time
        into some run's training (before or after a checkpoint, or while it records its result)."""
        if self.rng.random() < 0.35:
            wait = self.rng.uniform(0.2, 1.5)
            time.sleep(wait)
            self.note(f"waited {wait:.1f} s")
            return
        into = self.rng.uniform(0.0, STEPS * float(STEP_SECONDS) + 0.5)
        deadline = time.monotonic() + 15
        # train_tiny reports "Training" once torch is imported and the first step is about to run
        while time.monotonic() < deadline and not any(
                r.message == "Training" for r in list_runs(statuses=(RUNNING,))):
            time.sleep(0.05)
        time.sleep(into)
        self.note(f"waited until {into:.1f} s into a training")

    def keep_busy(self, dataset_id: int) -> None:
        """Launch a run when nothing is left to train, so every kill can hit one (the Train page's Launch)."""
        if not any(r.status in ACTIVE_STATES or r.resume_requested for r in list_runs()):
            self.created.append(enqueue(dataset_id, CONFIG, name="chaos, launched later"))
            self.note(f"launched {self.created[-1]}")

    def react(self, chance: float) -> None:
        """Resume interrupted runs that have a checkpoint, retry the others (Runs page buttons)."""
        for run in list_runs(statuses=(INTERRUPTED,)):
            if run.id in self.retried or run.resume_requested or self.rng.random() > chance:
                continue
            try:
                if run_files(run.id).has_checkpoint():
                    request_resume(run.id)
                    self.resumes += 1
                    self.note(f"resume {run.id}")
                else:
                    retry = retry_run(run.id)
                    self.retried[run.id] = retry
                    self.created.append(retry)
                    self.note(f"retry {run.id} as {retry}")
            except JobError as refused:  # it moved on meanwhile (e.g. a worker took it): the page says so
                self.note(f"refused for {run.id}: {refused}")

    def drained(self) -> bool:
        runs = list_runs()
        return all(r.status not in ACTIVE_STATES and not r.resume_requested for r in runs) and all(
            r.id in self.retried for r in runs if r.status == INTERRUPTED)

    def training_processes(self) -> list[psutil.Process]:
        """`python -m core.jobs.runner` processes working in this test's data folder, whoever started them."""
        found = []
        for process in psutil.process_iter(["cmdline"]):
            try:
                if "core.jobs.runner" in (process.info["cmdline"] or []) and \
                        process.environ().get("TUNEBOARD_HOME") == str(self.home):
                    found.append(process)
            except psutil.Error:
                pass
        return [p for p in found if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]

    def stop_workers(self, sig: signal.Signals) -> None:
        """Signal every live worker and wait for it to exit (the app's are not our children: psutil waits)."""
        processes = []
        for pid in self.live_worker_pids():
            try:
                process = psutil.Process(pid)
                process.send_signal(sig)
                processes.append(process)
            except psutil.NoSuchProcess:
                pass  # it ended meanwhile
        psutil.wait_procs(processes, timeout=30)
        for process in self.own_workers:
            process.wait(timeout=10)

    def stop_everything(self) -> None:
        """Teardown: SIGKILL the app, every worker, and any training process left in this data folder."""
        self.app.kill()
        try:
            self.stop_workers(signal.SIGKILL)
        except psutil.Error:
            pass
        for process in self.training_processes():
            process.kill()


def _children(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _running(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.fixture
def chaos(tuneboard_home: Path):
    env = {**os.environ, "TUNEBOARD_HOME": str(tuneboard_home), "HF_HUB_OFFLINE": "1",
           "TUNEBOARD_TRAIN_FN": "tests.tiny_training:train_tiny", "TINY_STEP_SECONDS": STEP_SECONDS}
    env.pop("TUNEBOARD_NO_WORKER", None)  # the real path: the app starts a worker when none is alive
    app = LiveApp(tuneboard_home, env, tuneboard_home.parent / "app.log")
    state = Chaos(tuneboard_home, random.Random(SEED), app, env)
    try:
        yield state
    finally:
        state.stop_everything()


def test_killing_workers_and_the_app_at_random_loses_doubles_or_strands_no_run(chaos: Chaos):
    rng = chaos.rng
    dataset_id = make_dataset()
    chaos.created += [enqueue(dataset_id, CONFIG, name=f"chaos {i}") for i in range(QUEUED_RUNS)]
    started = time.monotonic()
    # 1) rounds: bring things up as a user would, wait a random moment, kill -9 something
    for round_no in range(ROUNDS):
        if not chaos.app.alive():
            began = time.monotonic()
            chaos.app.start()
            chaos.note(f"app started in {time.monotonic() - began:.1f} s")
        chaos.view_runs_page()
        if rng.random() < 0.5 and len(chaos.live_worker_pids()) < 2:
            chaos.start_worker()  # sometimes a second worker races the first for the queue
        chaos.react(chance=0.6)
        chaos.keep_busy(dataset_id)
        chaos.wait_for_a_moment()
        victim = rng.choices(list(VICTIMS), weights=list(VICTIMS.values()))[0]
        chaos.note(f"round {round_no}: {victim}")
        kills = {"worker": [chaos.kill_workers], "app": [chaos.kill_app],
                 "both": rng.sample([chaos.kill_workers, chaos.kill_app], 2)}[victim]
        for kill in kills:
            kill()

    # 2) drain: the app and a worker come back, and the user resumes or retries what was interrupted
    if not chaos.app.alive():
        chaos.app.start()
    chaos.start_worker(concurrency=2)
    deadline = time.monotonic() + DRAIN_SECONDS
    while not chaos.drained():
        assert time.monotonic() < deadline, failure(chaos, "the queue did not drain")
        chaos.react(chance=1.0)
        time.sleep(0.3)
    chaos.view_runs_page()  # the app shows the final state without an error
    chaos.stop_workers(signal.SIGTERM)  # as a user stops them: each marks itself stopped
    chaos.note(f"drained after {time.monotonic() - started:.0f} s")
    print("\n".join(chaos.log))  # shown with -s, and with any failure
    check_invariants(chaos)


def check_invariants(chaos: Chaos) -> None:
    runs = {r.id: r for r in list_runs()}
    # 1) no run vanished, none appeared twice, none is left running or waiting
    assert sorted(runs) == sorted(chaos.created), failure(chaos, "runs lost or added")
    stuck = {i: r.status for i, r in runs.items() if r.status in ACTIVE_STATES or r.resume_requested}
    assert stuck == {}, failure(chaos, "runs left unfinished")
    # 2) a kill never looks like a training failure, and every run queued at the start finally trained
    unexpected = {i: (r.status, r.error) for i, r in runs.items() if r.status not in (SUCCEEDED, INTERRUPTED)}
    assert unexpected == {}, failure(chaos, "runs failed or were cancelled")
    for run_id in chaos.created:
        final = run_id
        while final in chaos.retried:
            final = chaos.retried[final]
        assert runs[final].status == SUCCEEDED, failure(chaos, f"run {run_id} never succeeded (last: {final})")
    for run in runs.values():
        folder = run_dir(run.id)
        log = run_files(run.id).log.read_text() if run_files(run.id).log.exists() else ""
        # 3) never trained by two processes at the same moment (a double claim; see tests/tiny_training.py)
        assert list(folder.glob("overlap_*")) == [], failure(chaos, f"run {run.id} was trained twice at once")
        # 4) each attempt started at most one training process, and only attempts that were claimed
        attempts = [int(a) for a in re.findall(rf"Run {run.id} \(attempt (\d+)\)", log)]
        assert len(attempts) == len(set(attempts)) and all(1 <= a <= run.attempt for a in attempts), \
            failure(chaos, f"run {run.id}: attempts {attempts} logged, {run.attempt} claimed")
        if run.status != SUCCEEDED:
            continue
        # 5) a finished run's results were written once: its test predictions, and a curve point per step and
        # attempt. (A killed attempt loses the points it had not yet flushed; the last attempt's are all there.)
        examples = [p.example_index for p in predictions(run.id)]
        assert len(examples) == 8 and len(set(examples)) == 8, failure(chaos, f"run {run.id}: predictions {examples}")
        steps = [p.step for p in metric_points(run.id) if p.name == "train_loss"]
        last_attempt = set(range(run.metrics["resumed_from_step"] + 1, STEPS + 1))
        assert last_attempt <= set(steps), failure(chaos, f"run {run.id}: steps missing from its curve")
        assert max(steps.count(s) for s in set(steps)) <= run.attempt, failure(chaos, f"run {run.id}: doubled points")
        progress = (run.step, run.total_steps, run.progress)
        assert progress == (STEPS, STEPS, 1.0), failure(chaos, f"run {run.id}: progress {progress}")
    # 6) the app never showed an error; no worker is left, and no training process outlived its worker
    assert chaos.page_exceptions == [], failure(chaos, "the app showed an exception")
    assert chaos.orphans == [], failure(chaos, f"training processes outlived their killed worker: {chaos.orphans}")
    assert alive_workers() == [], failure(chaos, "a worker is still alive")
    assert chaos.training_processes() == [], failure(chaos, "a training process outlived its worker")
    # 7) and the chaos really happened: workers and the app were killed, the app started workers, and kills
    # interrupted runs both before their first checkpoint (retried) and after one (resumed)
    assert chaos.kills["worker"] >= 1 and chaos.kills["app"] >= 1, failure(chaos, f"kills {chaos.kills}")
    assert chaos.app_workers, failure(chaos, "the app never started a worker")
    assert chaos.resumes >= 1 and chaos.retried, failure(chaos, "kills did not interrupt runs both before and "
                                                        "after a checkpoint")


def failure(chaos: Chaos, what: str) -> str:
    runs = "\n".join(f"  run {r.id}: {r.status} attempt {r.attempt} {r.message!r} {r.error!r}"
                     for r in sorted(list_runs(), key=lambda r: r.id))
    events = "\n".join(f"  {line}" for line in chaos.log[-60:])
    return (f"{what}\nreplay with CHAOS_SEED={SEED} (kills {chaos.kills}, resumes {chaos.resumes}, "
            f"retries {chaos.retried})\nruns:\n{runs}\nevents:\n{events}")
