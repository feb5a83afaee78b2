"""The runner (one run, in-process) and the worker (separate processes sharing one SQLite file, or one PostgreSQL
database: the tests marked both_databases run on each).

Training here is tests.tiny_training.train_tiny: a real, tiny torch loop with train_run's signature that takes
a fraction of a second, so the queue mechanics are tested fast; test_cli_jobs covers the real engine.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from core.jobs.runner import execute_run
from storage import run_queue
from storage.paths import run_dir, run_files
from storage.processes import process_identity
from storage.run_requests import enqueue, request_cancel, request_resume
from storage.runs import get_run, metric_points, predictions
from storage.workers import alive_workers
from tests.conftest import ROOT
from tests.tiny_training import make_dataset, train_tiny

TINY = "tests.tiny_training:train_tiny"
INSTANT = "tests.instant_training:train_instant"


def wait_for(predicate, timeout: float, every: float = 0.1, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"{what}: not met within {timeout} s")


@pytest.fixture
def workers():
    """Start worker processes (`python -m core worker` with the tiny trainer); kills what is left at the end."""
    started: list[subprocess.Popen] = []

    def start(once: bool = False, step_seconds: float = 0.01, stop_with: str | None = None,
              train_fn: str = TINY) -> subprocess.Popen:
        code = ("import sys; from core.jobs.worker import WorkerSettings, run_worker; "
                f"sys.exit(run_worker(WorkerSettings(once={once}, poll_seconds=0.2, train_fn={train_fn!r}, "
                f"stop_with={stop_with!r})))")
        env = {**os.environ, "TINY_STEP_SECONDS": str(step_seconds)}
        process = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            for child in psutil.Process(process.pid).children(recursive=True):
                child.kill()
            process.kill()
        process.wait(timeout=10)


def claim(run_id: int) -> str:
    worker_id = process_identity()
    assert run_queue.claim_next(worker_id) == (run_id, False)
    return worker_id


# ---------------------------------------------------------------- runner, in-process


@pytest.mark.slow  # trains: several seconds on 2 cores
def test_execute_run_records_result_predictions_curves_and_log():
    run_id = enqueue(make_dataset(), {"model": "tiny", "method": "full", "epochs": 3})
    worker_id = claim(run_id)
    outcome = execute_run(run_id, worker_id, train_fn=train_tiny)
    assert outcome.status == "succeeded"
    run = get_run(run_id)
    assert (run.status, run.step, run.total_steps, run.progress, run.metrics["steps"]) == ("succeeded", 30, 30, 1.0, 30)
    assert len(predictions(run_id)) == 8  # the test split of make_dataset's 30 rows
    points = metric_points(run_id)
    assert [p.step for p in points if p.name == "train_loss"] == list(range(1, 31))  # all kept, written in batches
    assert [p.value for p in points if p.name == "val_accuracy"] == pytest.approx([0.5 + 0.5 * k / 3 for k in (1, 2, 3)])
    log = run_files(run_id).log.read_text()
    assert "Run %d (attempt 1)" % run_id in log and "database bookkeeping took" in log


@pytest.mark.serial  # timed: on a machine busy with other tests the deadline would measure them
@pytest.mark.slow  # trains for about 2 s by design
def test_progress_writes_are_throttled(monkeypatch):
    """200 progress and 200 metric calls over ~2 s must cost a handful of database writes, not 400."""
    monkeypatch.setenv("TINY_STEP_SECONDS", "0.01")
    run_id = enqueue(make_dataset(), {"model": "tiny", "epochs": 20})
    outcome = execute_run(run_id, claim(run_id), train_fn=train_tiny)
    assert outcome.status == "succeeded"
    # One write per second of training, one per epoch's validation point (20), the first, and the final flush.
    assert 2 <= outcome.progress_writes <= outcome.wall_seconds + 1 + 20 + 2
    assert len([p for p in metric_points(run_id) if p.name == "train_loss"]) == 200  # nothing lost
    assert outcome.bookkeeping_seconds < outcome.wall_seconds


@pytest.mark.both_databases
def test_a_failing_training_is_recorded_with_a_plain_message_and_the_traceback_in_the_log():
    def broken(*args, **kwargs):
        raise KeyError("label_column")

    run_id = enqueue(make_dataset(), {"model": "tiny"})
    outcome = execute_run(run_id, claim(run_id), train_fn=broken)
    run = get_run(run_id)
    assert outcome.status == run.status == "failed"
    assert run.error == "Training stopped with an unexpected error (KeyError); the run's log has the details."
    assert "Traceback" in run_files(run_id).log.read_text()


@pytest.mark.slow  # trains three times
def test_out_of_gpu_memory_halves_the_batch_and_keeps_the_effective_batch():
    run_id = enqueue(make_dataset(), {"model": "oom", "batch_size": 16, "grad_accum": 1})
    outcome = execute_run(run_id, claim(run_id), train_fn=train_tiny)
    run = get_run(run_id)
    assert outcome.status == "succeeded"
    assert (run.metrics["batch_size"], run.metrics["grad_accum"]) == (4, 4)  # 16x1 -> 8x2 -> 4x4
    assert (run.config["batch_size"], run.config["grad_accum"]) == (4, 4)
    log = run_files(run_id).log.read_text()
    assert "Out of GPU memory with batch size 16; retrying with batch size 8 and gradient accumulation 2" in log


@pytest.mark.both_databases
def test_a_run_claimed_by_someone_else_is_not_touched():
    run_id = enqueue(make_dataset(), {"model": "tiny"})
    claim(run_id)
    outcome = execute_run(run_id, "another-worker", train_fn=train_tiny)
    assert outcome.status == "" and get_run(run_id).status == "running"


# ---------------------------------------------------------------- worker processes


@pytest.mark.slow  # worker processes
@pytest.mark.both_databases
def test_two_workers_run_six_queued_runs_each_exactly_once(workers):
    dataset_id = make_dataset()
    queued = [enqueue(dataset_id, {"model": "tiny", "epochs": 1}) for _ in range(6)]  # each starts a process
    # The instant trainer imports neither torch nor pandas: the processes cost a Python start, not a torch import.
    first, second = workers(once=True, train_fn=INSTANT), workers(once=True, train_fn=INSTANT)
    assert first.wait(timeout=120) == 0 and second.wait(timeout=120) == 0
    runs = [get_run(r) for r in queued]
    assert [r.status for r in runs] == ["succeeded"] * 6
    assert [r.attempt for r in runs] == [1] * 6
    assert [len(list(run_dir(r).glob("executed_by_*"))) for r in queued] == [1] * 6
    assert len({r.worker_id for r in runs}) == 2  # both workers took a share
    assert all("Finished in" in run_files(r).log.read_text() for r in queued)  # one log per run


@pytest.mark.slow  # worker processes
@pytest.mark.both_databases
def test_kill_9_of_the_worker_interrupts_the_run_and_resume_finishes_it(workers):
    run_id = enqueue(make_dataset(), {"model": "tiny", "epochs": 6})  # 60 steps of 0.1 s
    worker = workers(step_seconds=0.1)
    wait_for(lambda: (get_run(run_id).step or 0) >= 12, timeout=60)  # two checkpoints written
    child = psutil.Process(worker.pid).children()[0]
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait(timeout=10)
    wait_for(lambda: not child.is_running() or child.status() == psutil.STATUS_ZOMBIE, timeout=5)  # died with it
    assert get_run(run_id).status == "running"  # nobody has noticed yet

    assert workers(once=True).wait(timeout=60) == 0  # a restart notices
    run = get_run(run_id)
    assert run.status == "interrupted" and run_files(run_id).has_checkpoint()

    request_resume(run_id)
    assert workers(once=True, step_seconds=0.01).wait(timeout=60) == 0
    run = get_run(run_id)
    assert (run.status, run.attempt, run.step) == ("succeeded", 2, 60)
    assert run.metrics["resumed_from_step"] >= 10  # continued from the checkpoint, not from zero
    assert f"Resumed from step {run.metrics['resumed_from_step']}" in run_files(run_id).log.read_text()


@pytest.mark.serial  # timed: on a machine busy with other tests the deadline would measure them
@pytest.mark.parametrize("model", ["tiny", "stubborn"], ids=["stops-itself", "needs-a-kill"])
@pytest.mark.slow  # worker processes
@pytest.mark.both_databases
def test_cancel_stops_a_running_training_within_5_seconds(workers, model):
    run_id = enqueue(make_dataset(), {"model": model, "epochs": 100})  # 1000 steps of 0.05 s: ~50 s
    worker = workers(step_seconds=0.05)
    wait_for(lambda: (get_run(run_id).step or 0) >= 3, timeout=60)
    child = psutil.Process(worker.pid).children()[0]
    asked = time.monotonic()
    assert request_cancel(run_id) == "running"
    wait_for(lambda: get_run(run_id).status == "cancelled", timeout=10, every=0.05)
    stopped_after = time.monotonic() - asked
    print(f"cancel took {stopped_after:.2f} s")
    assert stopped_after < 5, stopped_after
    # and its process is gone within the same 5 s: on its own, or by the worker's SIGTERM, then SIGKILL
    gone = lambda: not child.is_running() or child.status() == psutil.STATUS_ZOMBIE  # noqa: E731
    wait_for(gone, timeout=max(0.1, 5 - (time.monotonic() - asked)), every=0.05)
    assert worker.poll() is None  # the worker keeps going
    assert "Cancelled" in run_files(run_id).log.read_text()


@pytest.mark.slow  # worker processes
@pytest.mark.both_databases
def test_a_crashing_run_fails_and_the_worker_keeps_going(workers):
    dataset_id = make_dataset()
    crash = enqueue(dataset_id, {"model": "crash"})
    fine = enqueue(dataset_id, {"model": "tiny", "epochs": 1})
    worker = workers(once=True)
    assert worker.wait(timeout=60) == 0
    crashed = get_run(crash)
    assert crashed.status == "failed"
    assert crashed.error == "The training process exited with code 7; the run's log has the details."
    assert get_run(fine).status == "succeeded"
    assert "failed" in worker.stdout.read()


@pytest.mark.slow  # worker processes
@pytest.mark.both_databases
def test_stopping_the_worker_marks_its_running_run_interrupted(workers):
    run_id = enqueue(make_dataset(), {"model": "tiny", "epochs": 100})
    worker = workers(step_seconds=0.05)
    wait_for(lambda: (get_run(run_id).step or 0) >= 6, timeout=60)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=10) == 0
    run = get_run(run_id)
    assert run.status == "interrupted" and "the worker was stopped" in run.message
    assert alive_workers() == []


@pytest.mark.slow  # worker processes
def test_a_worker_the_app_started_stops_when_the_app_stops(workers):
    """The app passes its own process to the worker it starts (--stop-with): stopping the app (Ctrl+C in its terminal)
    stops the worker within seconds, and the run it was training is interrupted, ready to resume."""
    app = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])  # stands in for `streamlit run`
    try:
        run_id = enqueue(make_dataset(), {"model": "tiny", "epochs": 100})
        worker = workers(step_seconds=0.05, stop_with=process_identity(app.pid))
        wait_for(lambda: (get_run(run_id).step or 0) >= 6, timeout=60)
        assert worker.poll() is None  # alive while the app is
    finally:
        app.kill()
        app.wait()
    assert worker.wait(timeout=15) == 0
    assert "has stopped: stopping too" in worker.stdout.read()
    assert get_run(run_id).status == "interrupted"
    assert alive_workers() == []


@pytest.mark.slow  # starts a worker process
@pytest.mark.both_databases
def test_the_app_starts_exactly_one_worker_however_many_sessions_ask_at_once(tuneboard_home):
    from concurrent.futures import ThreadPoolExecutor

    from core.jobs.app_worker import ensure_worker

    with ThreadPoolExecutor(4) as pool:  # four browser sessions opening the app at the same moment
        states = list(pool.map(lambda _: ensure_worker(), range(4)))
    pids = [s.pid for s in states if s.pid]
    assert len(pids) == 1 and all(s.started for s in states)
    worker = psutil.Process(pids[0])
    try:
        wait_for(alive_workers, timeout=30)
        again = ensure_worker()
        assert (again.started, again.alive) == (False, 1)
        assert again.describe() == "Worker: 1 running, idle."
        assert worker.status() != psutil.STATUS_ZOMBIE
    finally:
        worker.terminate()  # SIGTERM: the worker stops cleanly
        worker.wait(timeout=15)
    assert alive_workers() == []
    assert "stopped" in (tuneboard_home / "worker.log").read_text()


# ---------------------------------------------------------------- the real training engine (tiny-bert, random weights)

TINY_BERT = {"model": "tiny-bert", "method": "lora", "preset": "quick", "early_stopping_patience": 0}


@pytest.fixture
def real_workers():
    """`python -m core worker` exactly as users start it (core.training.train_run inside)."""
    started: list[subprocess.Popen] = []

    def start(*extra: str) -> subprocess.Popen:
        process = subprocess.Popen([sys.executable, "-m", "core", "worker", "--poll-seconds", "0.2", *extra], cwd=ROOT,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            for child in psutil.Process(process.pid).children(recursive=True):
                child.kill()
            process.kill()
        process.wait(timeout=10)


@pytest.mark.slow  # the real engine in real processes: tens of seconds on 2 cores
def test_real_engine_kill_9_then_resume_continues_from_the_epoch_checkpoint(real_workers):
    run_id = enqueue(make_dataset(rows=120), {**TINY_BERT, "epochs": 3, "batch_size": 4})
    worker = real_workers()
    wait_for(lambda: run_files(run_id).has_checkpoint(), timeout=90)  # at least one epoch done and saved
    child = psutil.Process(worker.pid).children()[0]
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait(timeout=10)
    wait_for(lambda: not child.is_running() or child.status() == psutil.STATUS_ZOMBIE, timeout=5)
    assert real_workers("--once").wait(timeout=60) == 0
    assert get_run(run_id).status == "interrupted"

    request_resume(run_id)
    assert real_workers("--once").wait(timeout=180) == 0
    run = get_run(run_id)
    assert (run.status, run.attempt, run.error) == ("succeeded", 2, "")
    log = run_files(run_id).log.read_text()
    assert "Resumed from the checkpoint after epoch" in log
    assert len(predictions(run_id)) == run.dataset.split_counts["test"]
    assert run_files(run_id).model.is_dir()


@pytest.mark.serial  # timed: on a machine busy with other tests the deadline would measure them
@pytest.mark.slow  # the real engine in real processes: tens of seconds on 2 cores
def test_real_engine_cancel_stops_training_within_5_seconds(real_workers):
    run_id = enqueue(make_dataset(rows=240), {**TINY_BERT, "epochs": 200, "batch_size": 4})
    worker = real_workers()
    wait_for(lambda: (get_run(run_id).step or 0) >= 2, timeout=90)
    child = psutil.Process(worker.pid).children()[0]
    asked = time.monotonic()
    request_cancel(run_id)
    wait_for(lambda: get_run(run_id).status == "cancelled", timeout=10, every=0.05)
    stopped_after = time.monotonic() - asked
    print(f"real engine: cancel took {stopped_after:.2f} s")
    assert stopped_after < 5
    wait_for(lambda: not child.is_running() or child.status() == psutil.STATUS_ZOMBIE, timeout=3)
    assert worker.poll() is None
