"""The job queue on SQLite and PostgreSQL: how fast the store's claim verb hands out runs, and a drain by real workers.

- claim rate: N queued runs, 8 processes started together (a barrier), each calling storage.run_queue.claim_next
  until it answers None; claims per second = N / (last process done - start). Every run must be claimed exactly
  once. SQLite: the conditional UPDATE (one writer at a time, WAL); PostgreSQL: UPDATE ... WHERE id = (SELECT ...
  FOR UPDATE SKIP LOCKED).
- drain: 200 queued runs, 4 `python -m core worker --once` processes on PostgreSQL; each run is a real training
  process (tests.instant_training.train_instant: no torch, so it measures the queue and the processes, not
  training). Every run must succeed on its first claim, trained by one process.

PostgreSQL: the server TUNEBOARD_TEST_POSTGRES_URL names, or a throwaway one started with .ci/postgres (as root);
each measurement gets a fresh database, dropped afterwards.
"""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.common import ROOT, markdown_table

CLAIMERS = 8
DRAIN_RUNS, DRAIN_WORKERS = 200, 4


@contextmanager
def postgres_server():
    """The URL of a PostgreSQL server's maintenance database: the one named in the environment, or a throwaway."""
    url = os.environ.get("TUNEBOARD_TEST_POSTGRES_URL")
    if url:
        yield url
        return
    folder = tempfile.mkdtemp(prefix="tuneboard-bench-postgres.")
    started = subprocess.run([str(ROOT / ".ci" / "postgres"), "start", folder], capture_output=True, text=True)
    if started.returncode != 0:
        raise RuntimeError(f"no PostgreSQL server: {started.stderr.strip().splitlines()[-1]}")
    try:
        yield started.stdout.strip()
    finally:
        subprocess.run([str(ROOT / ".ci" / "postgres"), "stop", folder], capture_output=True)


@contextmanager
def fresh_database(kind: str, server: str | None):
    """(data folder, DATABASE_URL) of an empty database: a SQLite file in a new folder, or a new PostgreSQL database."""
    from sqlalchemy import create_engine, make_url
    from sqlalchemy.pool import NullPool

    home = Path(tempfile.mkdtemp(prefix="tuneboard-bench-queue."))
    if kind == "sqlite":
        yield home, f"sqlite:///{home / 'tuneboard.db'}"
        return
    name = f"tuneboard_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield home, make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        from storage.db import reset_engines

        reset_engines()
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def use(home: Path, url: str) -> None:
    from storage.db import reset_engines

    os.environ["TUNEBOARD_HOME"], os.environ["DATABASE_URL"] = str(home), url
    reset_engines()


def queue_runs(count: int) -> list[int]:
    from sqlalchemy import insert

    from storage.db import session_factory
    from storage.models import QUEUED, Run
    from tests.tiny_training import make_dataset

    dataset_id = make_dataset()
    rows = [dict(dataset_id=dataset_id, config={"model": "tiny", "method": "full"}, name=f"bench {i}", status=QUEUED,
                 message="Waiting for a worker") for i in range(count)]
    with session_factory().begin() as s:
        return sorted(s.scalars(insert(Run).returning(Run.id), rows))


def _claimer(home: str, url: str, worker: str, start, out) -> None:
    """In its own process: connect and migrate, wait for the others, claim until the queue is empty."""
    import traceback

    from storage import run_queue
    from storage.db import session_factory

    os.environ["TUNEBOARD_HOME"], os.environ["DATABASE_URL"] = home, url
    try:
        session_factory()
        start.wait(timeout=120)
        began, got = time.time(), []
        while (claimed := run_queue.claim_next(worker)) is not None:
            got.append(claimed[0])
        out.put((worker, began, time.time(), got))
    except BaseException:  # noqa: BLE001 - the parent reports it instead of waiting for ever
        out.put((worker, 0.0, 0.0, traceback.format_exc()))


def claim_rate(kind: str, server: str | None, runs: int) -> dict[str, Any]:
    with fresh_database(kind, server) as (home, url):
        use(home, url)
        queued = queue_runs(runs)
        context = multiprocessing.get_context("spawn")
        start, out = context.Barrier(CLAIMERS), context.Queue()
        processes = [context.Process(target=_claimer, args=(str(home), url, f"w{i}", start, out))
                     for i in range(CLAIMERS)]
        for p in processes:
            p.start()
        results = [out.get(timeout=600) for _ in processes]
        for p in processes:
            p.join(timeout=60)
    failed = [r[3] for r in results if isinstance(r[3], str)]
    if failed:
        raise RuntimeError(failed[0])
    claimed = [run_id for r in results for run_id in r[3]]
    seconds = max(r[2] for r in results) - min(r[1] for r in results)
    return {"database": kind, "runs": runs, "processes": CLAIMERS, "seconds": round(seconds, 2),
            "claims_per_second": round(runs / seconds, 1), "exactly_once": sorted(claimed) == queued,
            "per_process": sorted(len(r[3]) for r in results)}


def drain(server: str) -> dict[str, Any]:
    from storage.runs import list_runs

    with fresh_database("postgresql", server) as (home, url):
        use(home, url)
        queued = queue_runs(DRAIN_RUNS)
        env = {**os.environ, "TUNEBOARD_TRAIN_FN": "tests.instant_training:train_instant"}
        started = time.monotonic()
        workers = [subprocess.Popen([sys.executable, "-m", "core", "worker", "--once", "--poll-seconds", "0.2"],
                                    cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                   for _ in range(DRAIN_WORKERS)]
        codes = [w.wait(timeout=3600) for w in workers]
        seconds = time.monotonic() - started
        runs = {r.id: r for r in list_runs(limit=DRAIN_RUNS + 1)}
        trained_once = all(len(list((home / "runs" / str(i)).glob("executed_by_*"))) == 1 for i in queued)
    exactly_once = (sorted(runs) == queued and all(r.status == "succeeded" and r.attempt == 1 for r in runs.values())
                    and trained_once and codes == [0] * DRAIN_WORKERS)
    return {"runs": DRAIN_RUNS, "workers": DRAIN_WORKERS, "seconds": round(seconds, 1),
            "runs_per_second": round(DRAIN_RUNS / seconds, 2), "exactly_once": exactly_once,
            "per_worker": sorted(Counter(r.worker_id for r in runs.values()).values())}


def run(quick: bool) -> dict[str, Any]:
    runs = 1000 if quick else 4000
    result: dict[str, Any] = {"claims": [claim_rate("sqlite", None, runs)]}
    try:
        with postgres_server() as server:
            result["claims"].append(claim_rate("postgresql", server, runs))
            result["drain"] = drain(server)
    except RuntimeError as error:
        result["postgresql_error"] = str(error)
    return result


def table(result: dict[str, Any]) -> str:
    rows = [[c["database"], c["runs"], c["processes"], c["seconds"], c["claims_per_second"],
             "yes" if c["exactly_once"] else "**no**", " / ".join(map(str, c["per_process"]))]
            for c in result["claims"]]
    text = markdown_table(["claim_next", "queued runs", "processes", "seconds", "claims/s", "each exactly once",
                           "claims per process"], rows)
    if "drain" in result:
        d = result["drain"]
        text += "\n\n" + markdown_table(
            ["drain on PostgreSQL", "runs", "workers", "seconds", "runs/s", "each exactly once, none lost",
             "runs per worker"],
            [["`python -m core worker --once`, a training process per run", d["runs"], d["workers"], d["seconds"],
              d["runs_per_second"], "yes" if d["exactly_once"] else "**no**", " / ".join(map(str, d["per_worker"]))]])
    if "postgresql_error" in result:
        text += f"\n\nPostgreSQL not measured: {result['postgresql_error']}"
    return text
