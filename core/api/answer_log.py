"""Logging the API's answers after the reply, and the true labels sent back for them (POST /v1/feedback).

Answers are written once the reply has gone (FastAPI background tasks), so the caller never waits on the database
(SQLite has one writer at a time, and the worker writes training progress). A caller may send feedback the moment
it has the reply, before the rows are written: `PendingLogs` knows which requests are still being written, and
feedback for one of them waits for it (at most WAIT_SECONDS) instead of being refused as unknown.

The input itself is logged only when the key opts in (storage.api_keys: log_inputs), and only texts.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable

from core.api.errors import ApiError
from core.api.schemas import FeedbackRequest, FeedbackResponse, PredictResponse
from storage.api_keys import KeyInfo
from storage.api_log import answered_request, log_answers, save_feedback

log = logging.getLogger("tuneboard.api")
WAIT_SECONDS = 10.0  # feedback for a request whose answers are still being written waits this long at most
CLASSES_NAMED = 10  # classes a refusal lists before "and N more"


def new_request_id() -> str:
    return uuid.uuid4().hex  # 128 random bits: what feedback names an answer by; nobody can guess another's


class PendingLogs:
    """Request ids whose answers are answered but not yet logged (thread-safe)."""

    def __init__(self) -> None:
        self._events: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def track(self, request_id: str, work: Callable[[], None]) -> Callable[[], None]:
        """Mark the request pending now; the returned task runs `work` (the logging) and then clears the mark."""
        with self._lock:
            self._events[request_id] = threading.Event()

        def task() -> None:
            try:
                work()
            except Exception:  # the answer was sent; a failed log line must not take the server down
                log.exception("could not log the answers of request %s", request_id)
            finally:
                with self._lock:
                    event = self._events.pop(request_id, None)
                if event is not None:
                    event.set()

        return task

    def wait(self, request_id: str, timeout: float = WAIT_SECONDS) -> None:
        """Return once the request's answers are logged (at once when it is not pending)."""
        with self._lock:
            event = self._events.get(request_id)
        if event is not None:
            event.wait(timeout)


def log_response(key: KeyInfo | None, answer: PredictResponse, texts: list[str] | None, *,
                 shadow: bool = False) -> None:
    """Write one run's answers to a request; `texts` are kept only when the key opts in."""
    kept = texts if key is not None and key.log_inputs and texts is not None else None
    log_answers(answer.request_id, key.id if key else None, answer.run, answer.latency_ms,
                [(p.label, p.confidence, p.uncertain) for p in answer.predictions], inputs=kept,
                endpoint=answer.endpoint, role=answer.role, shadow=shadow)


def give_feedback(feedback: FeedbackRequest, pending: PendingLogs) -> FeedbackResponse:
    """Store the true label of one answer, or the refusal saying what is wrong (blocking: call it from a thread)."""
    pending.wait(feedback.request_id)
    answered = answered_request(feedback.request_id)
    if answered is None:
        raise ApiError(404, "unknown_request", "No answer has this request_id; send the `request_id` of a predict "
                       "response of this server.")
    if feedback.index >= answered.answers:
        raise ApiError(404, "unknown_index", f"That request holds {answered.answers} answer"
                       f"{'s' if answered.answers != 1 else ''} (index 0 to {answered.answers - 1}); send the "
                       "`index` of one of them.")
    if feedback.label not in answered.labels:
        named = ", ".join(answered.labels[:CLASSES_NAMED])
        more = f" and {len(answered.labels) - CLASSES_NAMED} more" if len(answered.labels) > CLASSES_NAMED else ""
        raise ApiError(422, "unknown_label", f"The label is not one of run {answered.run_id}'s classes ({named}{more}); "
                       "send one of them, spelled exactly.")
    answer, replaced = save_feedback(feedback.request_id, feedback.index, feedback.label)
    return FeedbackResponse(request_id=feedback.request_id, index=feedback.index, label=feedback.label,
                            answer=answer, correct=answer == feedback.label, replaced=replaced)
