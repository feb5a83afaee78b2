"""The API's model calls all run on one thread (core.api.app.ModelThread), whether a request's own answer (from the
event loop) or a shadow challenger's (from a background task's worker thread): PyTorch keeps a team of CPU threads
per calling thread, and teams started by many callers compete for the same cores. And the run a request names is read
from the database at most once a second (core.api.prediction.RecentRuns)."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from core.api.app import ModelThread


def test_concurrent_requests_and_background_tasks_call_the_model_from_one_thread_in_turn():
    model_thread, inside, most_inside = ModelThread(), [0], [0]
    lock = threading.Lock()

    def model_call() -> int:
        with lock:
            inside[0] += 1
            most_inside[0] = max(most_inside[0], inside[0])
        threading.Event().wait(0.01)
        with lock:
            inside[0] -= 1
        return threading.get_ident()

    async def requests() -> list[int]:
        return list(await asyncio.gather(*(model_thread.run(model_call) for _ in range(8))))

    try:
        from_requests = asyncio.run(requests())
        with ThreadPoolExecutor(4) as background:  # as Starlette runs background tasks: on pool threads
            from_background = list(background.map(lambda _: model_thread.run_blocking(model_call), range(8)))
    finally:
        model_thread.close()
    assert len(set(from_requests + from_background)) == 1
    assert from_requests[0] != threading.get_ident()  # off the caller's thread (the event loop's, in the server)
    assert most_inside[0] == 1  # one call at a time


def test_a_ready_run_is_read_again_after_a_second_and_a_refused_one_on_every_request():
    from core.api.errors import ApiError
    from core.api.prediction import RecentRuns

    now, state, reads = [0.0], {"run": "finished, threshold 0.5"}, []

    def lookup(run_id: int) -> str:  # stands in for the database read (storage is tested on its own)
        reads.append(run_id)
        if state["run"] is None:
            raise ApiError(409, "run_not_finished", "not yet")
        return state["run"]

    runs = RecentRuns(seconds=1.0, clock=lambda: now[0], lookup=lookup)
    assert runs(1) == "finished, threshold 0.5" and len(reads) == 1
    state["run"] = "finished, threshold 0.7"  # calibrated again
    now[0] = 0.9
    assert runs(1) == "finished, threshold 0.5" and len(reads) == 1  # within the second: not read again
    now[0] = 1.0
    assert runs(1) == "finished, threshold 0.7" and len(reads) == 2  # a second later: the change is seen
    state["run"] = None
    now[0] = 2.5
    for _ in range(2):  # a run refused is looked up on every request, and not remembered
        with pytest.raises(ApiError, match="not yet"):
            runs(2)
    assert reads[-2:] == [2, 2]
    state["run"] = "finished"
    assert runs(2) == "finished"  # served as soon as it finishes
