"""Where a waiting run stands: its place in line and when it should start.

Workers take the oldest claimable run first (storage.run_queue.claim_next), so the runs ahead of a waiting run
are the running ones and the waiting ones queued before it. A running run frees its slot after its ETA (or, before
it has one, its estimate less the time it has run); a waiting run holds a slot for its estimate. There are as
many slots as workers alive, at least as many as runs running now, and at least one.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

from sqlalchemy import and_, or_, select

from storage.db import session_factory
from storage.models import QUEUED, RESUMABLE_STATES, RUNNING, Run, utcnow
from storage.workers import alive_workers


@dataclass(frozen=True)
class QueuePlace:
    place: int  # 1: the next run a worker takes
    starts_in_seconds: float | None  # None: a run ahead of it has no estimate


def expected_starts(running_left: list[float | None], waiting: list[tuple[int, float | None]],
                    slots: int) -> dict[int, QueuePlace]:
    """Each waiting run's place and start, from the seconds the running runs have left and the waiting runs'
    estimates, in the order workers take them (earliest free slot first). None anywhere ahead: start unknown."""
    slots = max(1, slots, len(running_left))
    unknown = any(left is None for left in running_left)
    free = [max(0.0, left or 0.0) for left in running_left] + [0.0] * (slots - len(running_left))
    heapq.heapify(free)
    places = {}
    for place, (run_id, seconds) in enumerate(waiting, start=1):
        start = heapq.heappop(free)
        places[run_id] = QueuePlace(place, None if unknown else start)
        unknown = unknown or seconds is None
        heapq.heappush(free, start + (seconds or 0.0))
    return places


def _seconds_left(run: Run) -> float | None:
    if run.eta_seconds is not None:
        return run.eta_seconds
    estimated = (run.estimate or {}).get("seconds")
    if estimated is None or run.started_at is None:
        return None
    return estimated - (utcnow() - run.started_at).total_seconds()


def _waiting_seconds(run: Run) -> float | None:
    """A queued run's whole estimate; a run waiting to resume has only the part it did not train yet."""
    estimated = (run.estimate or {}).get("seconds")
    if estimated is None:
        return None
    return estimated * (1.0 - (run.progress or 0.0)) if run.resume_requested else estimated


def queue_places() -> dict[int, QueuePlace]:
    """run id -> place for every run waiting for a worker (queued, or waiting to resume)."""
    waiting_filter = or_(Run.status == QUEUED, and_(Run.resume_requested.is_(True), Run.status.in_(RESUMABLE_STATES)))
    with session_factory()() as s:
        running = list(s.scalars(select(Run).where(Run.status == RUNNING)))
        waiting = list(s.scalars(select(Run).where(waiting_filter).order_by(Run.id)))
    return expected_starts([_seconds_left(r) for r in running], [(r.id, _waiting_seconds(r)) for r in waiting],
                           slots=len(alive_workers()))
