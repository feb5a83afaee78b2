"""Two browser sessions and two workers writing to one SQLite file at once (WAL, busy timeout, short transactions).

Streamlit serves every browser session from a thread of the one app process, so the sessions here are threads
that call exactly what the pages call: Results' "Save threshold", Train's "Launch", Runs' "Clone" and
"Cancel", and the reads each page makes. Meanwhile two real worker processes (`tests.tiny_training`, a real
torch loop) claim runs and write progress, curve points, heartbeats and results. Nothing is mocked.
The test fails on any database error in any writer ("database is locked" above all) and on any write that
did not end as asked: a lost threshold, a lost or doubled run, a cancel that did not stick.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field

import pytest

from core.jobs.runner import execute_run
from storage import run_queue
from storage.models import ACTIVE_STATES
from storage.processes import process_identity
from storage.results import run_predictions, save_threshold
from storage.run_requests import JobError, clone_run, enqueue, request_cancel
from storage.runs import get_run, list_runs, metric_points, predictions
from tests.test_worker import wait_for, workers  # noqa: F401 - `workers` is a fixture
from tests.tiny_training import make_dataset, train_tiny

pytestmark = pytest.mark.slow  # two worker processes and two sessions, for seconds

CONFIG = {"model": "tiny", "method": "lora", "preset": "quick", "epochs": 3}
SESSION_SECONDS = 6.0  # how long the two sessions keep clicking while the workers train
MAX_NEW_RUNS = 3  # launches + clones per session, so the queue drains in seconds


@dataclass
class Session:
    """One browser session: what it asked for, to check afterwards against what the database holds."""

    name: str
    seed: int
    threshold_runs: list[int]  # the runs whose threshold only this session saves
    thresholds: dict[int, float] = field(default_factory=dict)  # run -> last value it saved
    new_runs: list[int] = field(default_factory=list)  # launched or cloned
    cancels: dict[int, str] = field(default_factory=dict)  # run -> what request_cancel answered
    errors: list[BaseException] = field(default_factory=list)
    actions: int = 0

    def click_around(self, dataset_id: int, until: float) -> None:
        rng = random.Random(self.seed)
        try:
            while time.monotonic() < until:
                self.act(rng, dataset_id)
                self.actions += 1
                time.sleep(rng.uniform(0.0, 0.03))
        except BaseException as error:  # noqa: BLE001 - reported by the test, with the session's name
            self.errors.append(error)

    def act(self, rng: random.Random, dataset_id: int) -> None:
        roll = rng.random()
        if roll < 0.45:  # Results: move the slider, press Save threshold
            run_id = rng.choice(self.threshold_runs)
            value = round(rng.uniform(0.05, 0.95), 2)
            save_threshold(run_id, value)
            self.thresholds[run_id] = value
        elif roll < 0.55 and len(self.new_runs) < MAX_NEW_RUNS:  # Train: Launch
            self.new_runs.append(enqueue(dataset_id, CONFIG, name=f"{self.name} launch"))
        elif roll < 0.65 and len(self.new_runs) < MAX_NEW_RUNS:  # Runs: Clone
            source = rng.choice(list_runs(limit=20)).id
            self.new_runs.append(clone_run(source, name=f"{self.name} clone of {source}"))
        elif roll < 0.72 and self.new_runs:  # Runs: Cancel one of its own runs, whatever state it is in
            run_id = rng.choice(self.new_runs)
            if run_id not in self.cancels:
                try:
                    self.cancels[run_id] = request_cancel(run_id)
                except JobError as refused:  # it had already finished: the page shows this sentence
                    assert refused.code == "not_active", refused
                    self.cancels[run_id] = "too late"
        else:  # every page reads: the runs table, a run's detail, its curves and predictions
            runs = list_runs()
            run_id = rng.choice(runs).id
            get_run(run_id)
            metric_points(run_id)
            run_predictions(run_id)


def finished_in_process(dataset_id: int) -> int:
    run_id = enqueue(dataset_id, {**CONFIG, "epochs": 1})
    worker_id = process_identity()
    assert run_queue.claim_next(worker_id) == (run_id, False)
    assert execute_run(run_id, worker_id, train_fn=train_tiny).status == "succeeded"
    return run_id


def test_two_sessions_and_two_workers_write_at_once_without_locking_or_losing_anything(workers):  # noqa: F811
    dataset_id = make_dataset()
    finished = [finished_in_process(dataset_id) for _ in range(4)]  # thresholds need finished runs
    queued = [enqueue(dataset_id, CONFIG) for _ in range(6)]
    sessions = [Session("A", 1, finished[:2]), Session("B", 2, finished[2:])]
    started = [workers(step_seconds=0.02), workers(step_seconds=0.02)]  # progress and curve points every step

    wait_for(lambda: any(get_run(r).status == "running" for r in queued), timeout=60, every=0.05)
    until = time.monotonic() + SESSION_SECONDS
    threads = [threading.Thread(target=s.click_around, args=(dataset_id, until)) for s in sessions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=SESSION_SECONDS + 60)
    # 1) no writer failed: not the sessions ...
    assert [(s.name, repr(e)) for s in sessions for e in s.errors] == []
    assert all(s.actions > 20 for s in sessions), [s.actions for s in sessions]  # they really kept writing
    created = queued + [r for s in sessions for r in s.new_runs]
    wait_for(lambda: all(get_run(r).status not in ACTIVE_STATES for r in created), timeout=120, every=0.2)
    # ... nor the workers or their training processes (a database error there fails the run or kills the worker)
    assert [w.poll() for w in started] == [None, None]
    runs = {r.id: r for r in list_runs()}
    assert {r.id: r.error for r in runs.values() if r.status == "failed"} == {}

    # 2) every run asked for exists once, ran once, and ended where it should
    assert sorted(runs) == sorted(finished + created)
    # claimed once (attempt 1) unless cancelled while still queued (never claimed: attempt 0)
    assert {r.id: r.attempt for r in runs.values() if r.attempt != (1 if r.started_at else 0)} == {}
    for s in sessions:
        for run_id, answer in s.cancels.items():
            expected = {"cancelled": {"cancelled"}, "running": {"cancelled", "succeeded"},
                        "too late": {"succeeded"}}[answer]
            assert runs[run_id].status in expected, (s.name, run_id, answer, runs[run_id].status)
    for run in runs.values():
        if run.status == "succeeded":
            assert len(predictions(run.id)) == 8, run.id
    # 3) the last threshold each session saved is the one stored
    for s in sessions:
        assert {r: runs[r].threshold for r in s.thresholds} == pytest.approx(s.thresholds), s.name
