"""Logging the API's answers after the reply, and the true labels sent back for them (POST /v1/feedback).

Answers are written by one thread (`AnswerLog`), many requests to a transaction, so the caller never waits on the
database and the server does not commit once per request: a commit per request, on a thread of its own after each
reply, cost the next request about 2 ms on 2 cores (docs/BENCHMARKS.md, the API), and SQLite has one writer at a time
(the worker writes training progress). A caller may send feedback the moment it has the reply, before the rows are
written: feedback for a request not yet written waits for it (at most WAIT_SECONDS) instead of being refused as
unknown.

The input itself is logged only when the key opts in (storage.api_keys: log_inputs), and only texts.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from core.api.errors import ApiError
from core.api.schemas import FeedbackRequest, FeedbackResponse, PredictResponse
from storage.api_keys import KeyInfo
from storage.api_log import answer_rows, answered_request, insert_answers, save_feedback

log = logging.getLogger("tuneboard.api")
WAIT_SECONDS = 10.0  # feedback for a request whose answers are still being written waits this long at most
LINGER_SECONDS = 0.2  # answers wait this long for the ones after them, to be written in the same transaction
CLASSES_NAMED = 10  # classes a refusal lists before "and N more"


def new_request_id() -> str:
    return uuid.uuid4().hex  # 128 random bits: what feedback names an answer by; nobody can guess another's


class AnswerLog:
    """The answers of requests replied to, written by one thread in batches (thread-safe).

    A request announces how many parts its answers come in (`expect`: one, or two with a shadow challenger's), then
    each part is `put`; `wait` returns once all of a request's parts are written (or failed to be: a failed write is
    logged, never raised, as the answer was sent). `close` writes what is queued and stops the thread."""

    def __init__(self, write: Callable[[list[dict[str, Any]]], None] = insert_answers,
                 linger_seconds: float = LINGER_SECONDS) -> None:
        self._write, self._linger = write, linger_seconds
        self._queue: queue.SimpleQueue[tuple[str, list[dict[str, Any]]] | None] = queue.SimpleQueue()
        self._unwritten: dict[str, int] = {}  # request id -> parts not written yet
        self._written = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="tuneboard-answer-log", daemon=True)
        self._thread.start()

    def expect(self, request_id: str, parts: int = 1) -> None:
        with self._written:
            self._unwritten[request_id] = self._unwritten.get(request_id, 0) + parts

    def put(self, request_id: str, rows: list[dict[str, Any]]) -> None:
        """One expected part of a request's answers (rows from storage.api_log.answer_rows; none for a part that
        could not be answered)."""
        self._queue.put((request_id, rows))

    def wait(self, request_id: str, timeout: float = WAIT_SECONDS) -> None:
        """Return once the request's answers are written (at once when none are pending)."""
        with self._written:
            self._written.wait_for(lambda: request_id not in self._unwritten, timeout)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch, deadline = [first], time.monotonic() + self._linger
            while True:  # what comes within the linger joins the batch; close() cuts it short
                try:
                    item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if item is None:
                    self._flush(batch)
                    return
                batch.append(item)
            self._flush(batch)

    def _flush(self, batch: list[tuple[str, list[dict[str, Any]]]]) -> None:
        try:
            self._write([row for _, rows in batch for row in rows])
        except Exception:  # the answers were sent; a failed log must not take the server down
            log.exception("could not log the answers of %d requests", len(batch))
        with self._written:
            for request_id, _ in batch:
                left = self._unwritten.get(request_id, 1) - 1
                if left > 0:
                    self._unwritten[request_id] = left
                else:
                    self._unwritten.pop(request_id, None)
            self._written.notify_all()


def rows_of(key: KeyInfo | None, answer: PredictResponse, texts: list[str] | None, *,
            shadow: bool = False) -> list[dict[str, Any]]:
    """One run's answers to a request as log rows; `texts` are kept only when the key opts in."""
    kept = texts if key is not None and key.log_inputs and texts is not None else None
    return answer_rows(answer.request_id, key.id if key else None, answer.run, answer.latency_ms,
                       [(p.label, p.confidence, p.uncertain) for p in answer.predictions], inputs=kept,
                       endpoint=answer.endpoint, role=answer.role, shadow=shadow)


def give_feedback(feedback: FeedbackRequest, answers: AnswerLog) -> FeedbackResponse:
    """Store the true label of one answer, or the refusal saying what is wrong (blocking: call it from a thread)."""
    answers.wait(feedback.request_id)
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
