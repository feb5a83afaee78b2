"""The prediction API's answers, logged one row each, and read back for the Monitor page and for feedback.

A row holds the time, key, run, the request's latency, the answer (label, calibrated confidence, uncertain) and its
`answer_index` in the request; the true label once it is sent back (POST /v1/feedback); the input text only when the
key opts in (storage.api_keys: log_inputs); and, for a named endpoint, the endpoint, the run's role and whether the
answer was a shadow's (logged, not returned).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import func, insert, select, update

from storage.db import session_factory
from storage.models import ApiPrediction, Dataset, Run, utcnow

LOG_COLUMNS = ["created_at", "request_id", "answer_index", "key_id", "run_id", "latency_ms", "label", "confidence",
               "uncertain", "true_label", "endpoint", "role", "shadow"]
MAX_INPUTS_SHOWN = 200


def answer_rows(request_id: str, key_id: int | None, run_id: int, latency_ms: float,
                answers: list[tuple[str, float, bool]], *, inputs: list[str] | None = None,
                endpoint: str | None = None, role: str | None = None, shadow: bool = False) -> list[dict[str, Any]]:
    """One request's answers as rows, (label, calibrated confidence, uncertain) each in the request's order.
    `inputs`: the texts, given only when the key opts in to keeping them."""
    now = utcnow()
    return [{"created_at": now, "request_id": request_id, "answer_index": index, "key_id": key_id, "run_id": run_id,
             "latency_ms": latency_ms, "label": label, "confidence": confidence, "uncertain": uncertain,
             "input_text": inputs[index] if inputs is not None else None, "endpoint": endpoint, "role": role,
             "shadow": shadow}
            for index, (label, confidence, uncertain) in enumerate(answers)]


def insert_answers(rows: list[dict[str, Any]]) -> None:
    """Rows made by `answer_rows`, of any number of requests, in one transaction."""
    if rows:
        with session_factory().begin() as s:
            s.execute(insert(ApiPrediction), rows)


def log_answers(request_id: str, key_id: int | None, run_id: int, latency_ms: float,
                answers: list[tuple[str, float, bool]], **where: Any) -> None:
    """One request's answers in one insert (see `answer_rows`)."""
    insert_answers(answer_rows(request_id, key_id, run_id, latency_ms, answers, **where))


def _frame(where: Any, since: datetime | None) -> pd.DataFrame:
    query = select(*[getattr(ApiPrediction, c) for c in LOG_COLUMNS]).where(where)
    if since is not None:
        query = query.where(ApiPrediction.created_at >= since)
    with session_factory()() as s:
        rows = s.execute(query.order_by(ApiPrediction.id)).all()
    return pd.DataFrame([tuple(r) for r in rows], columns=LOG_COLUMNS)


def logged_answers(run_id: int, since: datetime | None = None) -> pd.DataFrame:
    """A run's logged answers (columns: LOG_COLUMNS), oldest first; `since` in UTC."""
    return _frame(ApiPrediction.run_id == run_id, since)


def endpoint_answers(endpoint: str, since: datetime | None = None) -> pd.DataFrame:
    """Every answer given through a named endpoint, by either of its runs, shadows included (LOG_COLUMNS)."""
    return _frame(ApiPrediction.endpoint == endpoint, since)


def logged_inputs(run_id: int, limit: int = MAX_INPUTS_SHOWN) -> pd.DataFrame:
    """The newest answers of a run whose input was kept (keys that opt in): time, input, answer, true label."""
    query = (select(ApiPrediction.created_at, ApiPrediction.input_text, ApiPrediction.label, ApiPrediction.true_label)
             .where(ApiPrediction.run_id == run_id, ApiPrediction.input_text.is_not(None))
             .order_by(ApiPrediction.id.desc()).limit(limit))
    with session_factory()() as s:
        rows = s.execute(query).all()
    return pd.DataFrame([tuple(r) for r in rows], columns=["created_at", "input", "answer", "true_label"])


def runs_with_answers() -> list[int]:
    """Runs the API has answered for, most recently used first."""
    latest = func.max(ApiPrediction.id)
    with session_factory()() as s:
        return list(s.scalars(select(ApiPrediction.run_id).group_by(ApiPrediction.run_id).order_by(latest.desc())))


@dataclass(frozen=True)
class AnsweredRequest:
    """What a request was answered with, as feedback refers to it: the run whose answers were returned, its
    classes, and how many answers the request holds."""

    request_id: str
    run_id: int
    labels: list[str]
    answers: int


def answered_request(request_id: str) -> AnsweredRequest | None:
    """The request's returned answers (not a shadow's), or None when no request has this id."""
    with session_factory()() as s:
        row = s.execute(select(ApiPrediction.run_id, func.count())
                        .where(ApiPrediction.request_id == request_id, ApiPrediction.shadow.is_(False))
                        .group_by(ApiPrediction.run_id)).first()
        if row is None:
            return None
        labels = s.scalar(select(Dataset.labels).join(Run, Run.dataset_id == Dataset.id).where(Run.id == row[0]))
    return AnsweredRequest(request_id, row[0], list(labels or []), int(row[1]))


def save_feedback(request_id: str, index: int, true_label: str) -> tuple[str, bool]:
    """Put the true label on the answer `index` of a request, on every run's row (a shadow's too, so both runs of an
    endpoint are judged on it). Returns the returned answer's label and whether an earlier label was replaced."""
    returned = (ApiPrediction.request_id == request_id, ApiPrediction.answer_index == index,
                ApiPrediction.shadow.is_(False))
    with session_factory().begin() as s:
        label, before = s.execute(select(ApiPrediction.label, ApiPrediction.true_label).where(*returned)).one()
        s.execute(update(ApiPrediction).where(ApiPrediction.request_id == request_id,
                                              ApiPrediction.answer_index == index)
                  .values(true_label=true_label, feedback_at=utcnow()))
    return label, before is not None
