"""The job store: the queue's verbs (storage/run_queue.py), the requests of pages and the CLI
(storage/run_requests.py) and the worker registry (storage/workers.py): claiming, progress, outcomes, requests,
orphan detection."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
from datetime import timedelta

import pytest
from sqlalchemy import update

from storage import run_queue
from storage.db import session_factory
from storage.models import Run, utcnow
from storage.paths import run_dir, run_files
from storage.processes import process_identity
from storage.run_requests import (
    JobError, clone_run, delete_run, enqueue, enqueue_claimed, request_cancel, request_resume, retry_run,
)
from storage.runs import get_run, list_runs, metric_points, predictions
from storage.workers import alive_workers, register_worker, stop_worker
from tests.tiny_training import make_dataset

pytestmark = pytest.mark.both_databases  # the job store's verbs on SQLite and on PostgreSQL

CONFIG = {"model": "minilm", "method": "lora", "preset": "quick"}


def _claim_all(home: str, worker: str, start, out) -> None:
    """Runs in a separate process: claim until the queue is empty, report what it got."""
    import os

    import traceback

    os.environ["TUNEBOARD_HOME"] = home
    try:
        session_factory()  # connect and migrate before the start line, so all processes race from the same moment
        start.wait(timeout=60)
        got = []
        while (claimed := run_queue.claim_next(worker)) is not None:
            got.append(claimed[0])
        out.put((worker, got))
    except BaseException:  # the test shows why, instead of its other processes waiting at the barrier for ever
        out.put((worker, traceback.format_exc()))
        raise


def test_claim_next_takes_the_oldest_queued_run_once():
    dataset_id = make_dataset()
    first, second = enqueue(dataset_id, CONFIG), enqueue(dataset_id, CONFIG)
    assert run_queue.claim_next("w1") == (first, False)
    assert run_queue.claim_next("w2") == (second, False)
    assert run_queue.claim_next("w1") is None
    run = get_run(first)
    assert (run.status, run.worker_id, run.attempt, run.dataset.name) == ("running", "w1", 1, "tiny")


@pytest.mark.slow  # four processes
def test_four_processes_claim_a_hundred_runs_each_exactly_once(tuneboard_home):
    dataset_id = make_dataset()
    queued = [enqueue(dataset_id, CONFIG) for _ in range(100)]
    context = multiprocessing.get_context("spawn")
    start, out = context.Barrier(4), context.Queue()
    processes = [context.Process(target=_claim_all, args=(str(tuneboard_home), f"w{i}", start, out)) for i in range(4)]
    for p in processes:
        p.start()
    results = dict(out.get(timeout=120) for _ in processes)
    for p in processes:
        p.join(timeout=30)
    assert all(isinstance(got, list) for got in results.values()), results
    claimed = [run_id for got in results.values() for run_id in got]
    assert sorted(claimed) == queued  # every run once, none twice
    assert sum(1 for got in results.values() if got) >= 2  # they really raced
    assert {r.worker_id for r in list_runs()} <= set(results)


def test_progress_is_written_only_by_the_owning_worker():
    run_id = enqueue(make_dataset(), CONFIG)
    run_queue.claim_next("w1")
    assert run_queue.report_progress(run_id, "w1", step=5, total_steps=20, epoch=0.5, message="Epoch 1/2", eta_seconds=9.0)
    assert not run_queue.report_progress(run_id, "intruder", step=19, total_steps=20, epoch=1.9)
    run = get_run(run_id)
    assert (run.step, run.progress, run.message, run.eta_seconds) == (5, 0.25, "Epoch 1/2", 9.0)


def test_finish_stores_metrics_predictions_and_relative_artifact_dir(tuneboard_home):
    run_id = enqueue(make_dataset(), CONFIG)
    run_queue.claim_next("w1")
    run_queue.add_metric_points(run_id, [(1, 0.1, "train_loss", 0.9), (10, 1.0, "val_accuracy", 0.8)])
    predicted = [{"example_index": 3, "true_label": "spam", "predicted_label": "ham", "confidence": 0.6,
                  "probabilities": [0.6, 0.4]}]
    assert not run_queue.finish(run_id, "intruder", metrics={}, predictions=[], trainable_params=1, total_params=1,
                                train_seconds=1.0, samples_per_second=1.0, device="cpu", artifact_dir="x", size_bytes=1)
    assert run_queue.finish(run_id, "w1", metrics={"accuracy": 0.75, "per_class": {"ham": {"f1": 0.8}}},
                            predictions=predicted, trainable_params=100, total_params=1000, train_seconds=12.5,
                            samples_per_second=40.0, device="cpu", artifact_dir=run_dir(run_id), size_bytes=2048)
    run = get_run(run_id)
    assert (run.status, run.progress, run.metrics["accuracy"], run.trainable_params) == ("succeeded", 1.0, 0.75, 100)
    assert run.artifact_dir == f"runs/{run_id}"
    assert [(p.example_index, p.predicted_label, p.probabilities) for p in predictions(run_id)] == [(3, "ham", [0.6, 0.4])]
    assert [(p.name, p.value) for p in metric_points(run_id)] == [("train_loss", 0.9), ("val_accuracy", 0.8)]


def test_cancel_of_a_queued_run_is_immediate_and_of_a_running_run_is_a_request():
    dataset_id = make_dataset()
    queued, running = enqueue(dataset_id, CONFIG), enqueue(dataset_id, CONFIG)
    run_queue.claim_next("w1")  # both are running now
    run_queue.claim_next("w1")
    third = enqueue(dataset_id, CONFIG)
    assert request_cancel(third) == "cancelled"
    assert get_run(third).status == "cancelled"
    assert request_cancel(running) == "running"
    run = get_run(running)
    assert (run.status, run.cancel_requested) == ("running", True)
    assert run_queue.cancel_requested_among([queued, running]) == {running}
    with pytest.raises(JobError, match="already cancelled"):
        request_cancel(third)


@pytest.mark.slow  # a Python process (for a pid that is dead)
def test_runs_of_dead_or_silent_workers_are_marked_interrupted():
    dataset_id = make_dataset()
    dead_local, alive_local, silent_remote, fresh_remote = (enqueue(dataset_id, CONFIG) for _ in range(4))
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_identity = process_identity().rsplit(":", 2)[0] + f":{finished.stdout.strip()}:1"
    for run_id, owner in [(dead_local, dead_identity), (alive_local, process_identity()),
                          (silent_remote, "other-host:1:1"), (fresh_remote, "other-host:2:2")]:
        assert run_queue.claim_next(owner)[0] == run_id
    with session_factory().begin() as s:
        s.execute(update(Run).where(Run.id == silent_remote).values(heartbeat_at=utcnow() - timedelta(minutes=5)))
    assert sorted(run_queue.interrupt_orphaned_runs()) == [dead_local, silent_remote]
    assert [get_run(r).status for r in (dead_local, alive_local, silent_remote, fresh_remote)] == [
        "interrupted", "running", "interrupted", "running"]
    assert "Resume" in get_run(dead_local).message


def test_resume_needs_a_checkpoint_and_is_claimed_as_a_resume():
    run_id = enqueue(make_dataset(), CONFIG)
    run_queue.claim_next("w1")
    run_queue.mark_interrupted(run_id, "w1", "Interrupted")
    with pytest.raises(JobError, match="no checkpoint"):
        request_resume(run_id)
    run_files(run_id).checkpoint.mkdir(parents=True)
    (run_files(run_id).checkpoint / "state.pt").write_bytes(b"x")
    request_resume(run_id)
    assert run_queue.claim_next("w2") == (run_id, True)
    run = get_run(run_id)
    assert (run.status, run.attempt, run.worker_id) == ("running", 2, "w2")


def test_resume_of_a_running_run_is_refused():
    run_id = enqueue(make_dataset(), CONFIG)
    run_queue.claim_next("w1")
    with pytest.raises(JobError, match="only interrupted, cancelled or failed"):
        request_resume(run_id)


def test_retry_and_clone_queue_new_runs_with_the_settings():
    run_id = enqueue(make_dataset(), CONFIG, name="first")
    with pytest.raises(JobError, match="still queued"):
        retry_run(run_id)
    run_queue.claim_next("w1")
    run_queue.fail(run_id, "w1", "The model could not be loaded.")
    retry = retry_run(run_id)
    clone = clone_run(run_id, config={**CONFIG, "method": "head"})
    assert [(r.id, r.status, r.config["method"]) for r in list_runs()] == [
        (clone, "queued", "head"), (retry, "queued", "lora"), (run_id, "failed", "lora")]
    assert get_run(retry).name == f"Retry of run {run_id}: first"
    assert get_run(run_id).error == "The model could not be loaded."


def test_alive_workers_follow_heartbeat_and_stop():
    me = process_identity()
    register_worker(me)
    register_worker("other-host:5:5")
    with session_factory().begin() as s:
        from storage.models import Worker

        s.execute(update(Worker).where(Worker.id == "other-host:5:5").values(heartbeat_at=utcnow() - timedelta(minutes=5)))
    assert [w.id for w in alive_workers()] == [me]
    stop_worker(me)
    assert alive_workers() == []


def test_enqueue_on_a_missing_dataset_says_so():
    with pytest.raises(JobError, match="does not exist"):
        enqueue(999, CONFIG)


def test_log_tail_returns_the_last_lines():
    run_dir(7).mkdir(parents=True)
    run_files(7).log.write_text("".join(f"line {i}\n" for i in range(500)))
    assert run_files(7).log_tail(lines=3).splitlines() == ["line 497", "line 498", "line 499"]
    assert run_files(8).log_tail() == ""


def test_a_run_the_cli_trains_itself_is_never_claimable():
    run_id = enqueue_claimed(make_dataset(), CONFIG, "cli:1:1")
    run = get_run(run_id)
    assert (run.status, run.worker_id, run.attempt) == ("running", "cli:1:1", 1)
    assert run_queue.claim_next("w1") is None


# ---------------------------------------------------------------- deleting a run


def finished_run(dataset_id: int) -> int:
    """A run trained for real (tests.tiny_training): a folder with its log and checkpoint, curves, predictions."""
    from core.jobs.runner import execute_run
    from tests.tiny_training import train_tiny

    run_id = enqueue(dataset_id, {"model": "tiny", "epochs": 1})
    worker_id = process_identity()
    assert run_queue.claim_next(worker_id) == (run_id, False)
    assert execute_run(run_id, worker_id, train_fn=train_tiny).status == "succeeded"
    return run_id


def rows_of(run_id: int) -> tuple[int, int, int]:
    """(run rows, metric points, predictions) stored for the run, counted straight from the tables."""
    from sqlalchemy import func, select

    from storage.models import MetricPoint, Prediction

    with session_factory()() as s:
        return tuple(s.scalar(select(func.count()).select_from(model).where(column == run_id))
                     for model, column in ((Run, Run.id), (MetricPoint, MetricPoint.run_id),
                                           (Prediction, Prediction.run_id)))


@pytest.mark.slow  # trains a tiny model (finished_run)
def test_deleting_a_finished_run_removes_its_rows_and_its_folder_and_nothing_else(tuneboard_home):
    dataset_id = make_dataset()
    doomed, kept = finished_run(dataset_id), finished_run(dataset_id)
    assert rows_of(doomed)[0] == 1 and rows_of(doomed)[1] > 0 and rows_of(doomed)[2] == 8
    delete_run(doomed)
    assert rows_of(doomed) == (0, 0, 0)
    assert not run_dir(doomed).exists()
    assert [p.name for p in (tuneboard_home / "runs").iterdir()] == [str(kept)]  # nothing set aside is left
    assert rows_of(kept)[0] == 1 and rows_of(kept)[2] == 8 and run_files(kept).log.exists()
    with pytest.raises(JobError, match=f"There is no run {doomed}"):
        delete_run(doomed)


@pytest.mark.parametrize("status", ["queued", "running"])
def test_deleting_a_queued_or_running_run_is_refused_and_changes_nothing(status):
    run_id = enqueue(make_dataset(), CONFIG)
    if status == "running":
        run_queue.claim_next("w1")
        run_dir(run_id).mkdir(parents=True)
        run_files(run_id).log.write_text("training\n")
    with pytest.raises(JobError, match=f"Run {run_id} is {status}; cancel it first, then delete it.") as refused:
        delete_run(run_id)
    assert refused.value.code == "still_active"
    assert get_run(run_id).status == status
    assert status == "queued" or run_files(run_id).log.read_text() == "training\n"


@pytest.mark.slow  # trains a tiny model (finished_run)
def test_a_delete_racing_a_resume_waits_for_it_and_then_refuses_with_the_folder_untouched():
    """A worker claims the run for a resume (its transaction still open) while someone deletes it: the delete's
    first write waits for the worker's commit, sees the run running, and touches neither rows nor folder."""
    import threading
    import time

    dataset_id = make_dataset()
    run_id = finished_run(dataset_id)
    before = rows_of(run_id)
    errors: list[BaseException] = []
    worker_session = session_factory()()
    worker_session.execute(update(Run).where(Run.id == run_id).values(status="running"))  # holds the write lock

    def delete() -> None:
        try:
            delete_run(run_id)
        except BaseException as error:  # noqa: BLE001 - handed to the test thread
            errors.append(error)

    deleting = threading.Thread(target=delete)
    deleting.start()
    time.sleep(1.0)  # the delete has read "succeeded" and now waits on the lock
    assert deleting.is_alive() and run_dir(run_id).is_dir()
    worker_session.commit()
    worker_session.close()
    deleting.join(timeout=30)
    [error] = errors
    assert isinstance(error, JobError) and "was just started again" in str(error)
    assert rows_of(run_id) == before and run_files(run_id).log.exists()


@pytest.mark.slow  # trains a tiny model (finished_run)
def test_a_deleted_run_of_a_dataset_leaves_the_dataset_and_its_other_runs_consistent():
    from core.datasets.store import delete_dataset

    dataset_id = make_dataset()
    first, second = finished_run(dataset_id), finished_run(dataset_id)
    delete_run(first)
    assert [r.id for r in list_runs()] == [second]
    assert delete_dataset(dataset_id)  # deleting the dataset afterwards still removes the rest
    assert list_runs() == [] and not run_dir(second).exists()


def test_an_interrupted_run_set_to_resume_automatically_is_left_for_any_worker_up_to_the_attempt_limit():
    dataset_id = make_dataset()
    auto, plain = enqueue(dataset_id, CONFIG, auto_resume=True), enqueue(dataset_id, CONFIG)
    assert run_queue.claim_next("w1") == (auto, False) and run_queue.claim_next("w1") == (plain, False)
    assert run_queue.mark_interrupted(plain, "w1", "Interrupted: its worker stopped.")
    assert (get_run(plain).resume_requested, get_run(plain).message) == (False, "Interrupted: its worker stopped.")
    for attempt in range(1, run_queue.AUTO_RESUME_ATTEMPTS):
        assert run_queue.mark_interrupted(auto, f"w{attempt}", "Interrupted: its worker stopped.")
        run = get_run(auto)
        assert (run.status, run.resume_requested) == ("interrupted", True)
        assert run.message == "Interrupted: its worker stopped. Resuming it automatically on the next free worker."
        assert run_queue.claim_next(f"w{attempt + 1}") == (auto, True)  # any worker takes it, as a resume
    assert get_run(auto).attempt == run_queue.AUTO_RESUME_ATTEMPTS
    assert run_queue.mark_interrupted(auto, f"w{run_queue.AUTO_RESUME_ATTEMPTS}", "Interrupted: its worker stopped.")
    assert get_run(auto).resume_requested is False  # the last attempt: it waits for the user, like the plain run
    assert run_queue.claim_next("w9") is None
