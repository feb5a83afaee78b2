"""The worker registry: each worker's row and heartbeat, so the app knows whether one is alive (and starts one
when none is) and a worker that starts can tell which running runs lost theirs."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from storage.db import session_factory
from storage.models import RUNNING, Run, Worker, utcnow
from storage.processes import process_alive

WORKER_STALE_SECONDS = 30.0  # a worker row whose heartbeat is older than this is not alive


def register_worker(worker_id: str, device: str = "", data_home: str = "") -> None:
    """A worker starts: its host (from its identity, host:pid:start), what it trains on and its data folder."""
    host, pid, _ = worker_id.rsplit(":", 2)
    with session_factory().begin() as s:
        s.merge(Worker(id=worker_id, hostname=host, pid=int(pid), started_at=utcnow(), heartbeat_at=utcnow(), stopped=False,
                       device=device, data_home=data_home, current_runs=[]))


def heartbeat(worker_id: str, run_ids: list[int]) -> None:
    """The worker is alive, trains `run_ids` now, and so are those runs (their rows' heartbeat keeps them from
    being orphaned)."""
    now = utcnow()
    with session_factory().begin() as s:
        s.execute(update(Worker).where(Worker.id == worker_id).values(heartbeat_at=now, current_runs=sorted(run_ids)))
        if run_ids:
            s.execute(update(Run).where(Run.id.in_(run_ids), Run.status == RUNNING, Run.worker_id == worker_id)
                      .values(heartbeat_at=now))


def stop_worker(worker_id: str) -> None:
    with session_factory().begin() as s:
        s.execute(update(Worker).where(Worker.id == worker_id).values(stopped=True, current_runs=[]))


def alive_workers(stale_seconds: float = WORKER_STALE_SECONDS) -> list[Worker]:
    """Workers with a recent heartbeat whose process (when on this host) still exists."""
    cutoff = utcnow() - timedelta(seconds=stale_seconds)
    with session_factory()() as s:
        rows = list(s.scalars(select(Worker).where(Worker.stopped.is_(False), Worker.heartbeat_at >= cutoff)))
    return [w for w in rows if process_alive(w.id) is not False]
