"""The queue at scale on PostgreSQL, the database several machines share: 16 queued runs drained by 4 real worker
processes (`python -m core worker --once`, each run in its own training process), every run exactly once and none
lost. The runs are tests.instant_training.train_instant (no torch), so the drain measures the queue and the processes,
not training. bench/queue.py drains 200 the same way, checks the same "exactly once, none lost" and measures the rate
(docs/BENCHMARKS.md); here 16 keep the four workers contending for claims at a twelfth of the CI time (each run is a
Python process starting: 200 of them took 5 minutes of a 2-core CI machine)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter

import pytest
from sqlalchemy import insert

from storage.db import session_factory
from storage.models import QUEUED, Run
from storage.paths import run_dir
from storage.runs import list_runs
from tests.conftest import ROOT
from tests.tiny_training import make_dataset

RUNS, WORKERS = 16, 4


def queue_many(dataset_id: int, count: int) -> list[int]:
    """`count` queued runs in one transaction (enqueue one by one would time the inserts, not the drain)."""
    rows = [dict(dataset_id=dataset_id, config={"model": "tiny", "method": "full"}, name=f"drain {i}", status=QUEUED,
                 message="Waiting for a worker") for i in range(count)]
    with session_factory().begin() as s:
        return list(s.scalars(insert(Run).returning(Run.id), rows))


@pytest.mark.slow  # 4 worker processes start 16 training processes: about 15 s on 2 quiet cores
@pytest.mark.postgresql
@pytest.mark.timeout(1500)  # each training process is a Python start: ten minutes and more on a crowded machine
def test_four_workers_drain_sixteen_queued_runs_each_exactly_once(tuneboard_home):
    queued = sorted(queue_many(make_dataset(), RUNS))
    env = {**os.environ, "TUNEBOARD_TRAIN_FN": "tests.instant_training:train_instant"}
    started = time.monotonic()
    workers = [subprocess.Popen([sys.executable, "-m", "core", "worker", "--once", "--poll-seconds", "0.2"], cwd=ROOT,
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
               for _ in range(WORKERS)]
    outputs = [w.communicate(timeout=1400)[0] for w in workers]
    seconds = time.monotonic() - started
    assert [w.returncode for w in workers] == [0] * WORKERS, outputs
    runs = {r.id: r for r in list_runs(limit=RUNS + 1)}
    # none lost, none added, each succeeded on its first and only claim, and trained by exactly one process
    assert sorted(runs) == queued
    assert Counter(r.status for r in runs.values()) == {"succeeded": RUNS}
    assert {r.attempt for r in runs.values()} == {1}
    assert [len(list(run_dir(i).glob("executed_by_*"))) for i in queued] == [1] * RUNS
    assert [len(list(run_dir(i).glob("overlap_*"))) for i in queued] == [0] * RUNS
    # they shared the queue: claims were contended (a worker that started late on a busy machine may get few)
    per_worker = Counter(r.worker_id for r in runs.values())
    assert len(per_worker) >= 2, per_worker
    print(f"{RUNS} runs drained by {WORKERS} workers in {seconds:.0f} s ({RUNS / seconds:.1f} runs/s); "
          f"per worker {sorted(per_worker.values())}")

