"""A waiting run's place in line and expected start, from the ETAs of the running runs and the estimates of the
runs queued before it; and a finished run's estimate beside what it took."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from storage import run_queue
from storage.db import session_factory
from storage.models import Run, utcnow
from storage.queue_place import QueuePlace, expected_starts, queue_places
from storage.run_requests import enqueue, retry_run
from storage.runs import estimate_check, get_run
from storage.workers import register_worker
from tests.tiny_training import make_dataset

CONFIG = {"model": "tiny", "method": "lora", "preset": "quick"}


def test_each_waiting_run_starts_when_the_first_slot_frees_up():
    # Two slots: running runs with 60 s and 300 s left; then A (120 s), B (100 s), C (no estimate), D.
    places = expected_starts([60.0, 300.0], [(1, 120.0), (2, 100.0), (3, None), (4, 50.0)], slots=2)
    assert places == {1: QueuePlace(1, 60.0),     # the 60 s slot frees first
                      2: QueuePlace(2, 180.0),    # A ends at 180, before the 300 s run
                      3: QueuePlace(3, 280.0),    # B, started at 180, ends at 280
                      4: QueuePlace(4, None)}     # C has no estimate: nobody can say when D starts


def test_an_idle_worker_starts_the_first_waiting_run_at_once():
    assert expected_starts([], [(7, 90.0), (8, 30.0)], slots=1) == {7: QueuePlace(1, 0.0), 8: QueuePlace(2, 90.0)}


def test_a_running_run_without_eta_or_estimate_makes_every_start_unknown():
    assert expected_starts([None], [(1, 10.0)], slots=1) == {1: QueuePlace(1, None)}


def test_places_come_from_the_rows_in_the_order_workers_take_them():
    dataset_id = make_dataset()
    running = enqueue(dataset_id, CONFIG, estimate={"seconds": 500.0})
    first = enqueue(dataset_id, CONFIG, estimate={"seconds": 120.0})
    second = enqueue(dataset_id, CONFIG, estimate={"seconds": 60.0})
    register_worker("host:1:0")  # one live worker: one slot (its process check cannot see another host's pid)
    assert run_queue.claim_next("host:1:0") == (running, False)
    # Before its first progress report, the running run is expected to take its estimate.
    places = queue_places()
    assert set(places) == {first, second}
    assert places[first].place == 1 and 490 <= places[first].starts_in_seconds <= 500
    run_queue.report_progress(running, "host:1:0", step=5, total_steps=10, epoch=0.5, eta_seconds=45.0)
    places = queue_places()
    assert places[first] == QueuePlace(1, 45.0) and places[second] == QueuePlace(2, 165.0)


def test_a_finished_run_shows_its_estimate_beside_its_wall_time_and_peak_memory():
    run_id = enqueue(make_dataset(), CONFIG, estimate={"seconds": 100.0, "memory_bytes": 2_000_000_000})
    run_queue.claim_next("w1")
    started = utcnow() - timedelta(seconds=130)
    with session_factory().begin() as s:
        s.execute(update(Run).where(Run.id == run_id).values(started_at=started))
    assert run_queue.finish(run_id, "w1", metrics={"accuracy": 1.0}, predictions=[], trainable_params=1,
                            total_params=1, train_seconds=120.0, samples_per_second=1.0, device="cpu",
                            artifact_dir="runs/x", size_bytes=0, training={"peak_memory_bytes": 1_500_000_000})
    check = estimate_check(get_run(run_id))
    assert check.estimated_seconds == 100.0 and 129 <= check.wall_seconds <= 140
    assert (check.estimated_memory_bytes, check.peak_memory_bytes) == (2_000_000_000, 1_500_000_000)


def test_a_retry_keeps_the_estimate_of_the_same_settings():
    run_id = enqueue(make_dataset(), CONFIG, estimate={"seconds": 42.0})
    run_queue.claim_next("w1")
    run_queue.mark_cancelled(run_id, "w1")
    assert get_run(retry_run(run_id)).estimate == {"seconds": 42.0}
