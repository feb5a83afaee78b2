"""The prediction API's answers, logged one row each (no inputs), and read back for the Monitor page."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import func, insert, select

from storage.db import session_factory
from storage.models import ApiPrediction, utcnow

LOG_COLUMNS = ["created_at", "request_id", "key_id", "run_id", "latency_ms", "label", "confidence", "uncertain"]


def log_answers(request_id: str, key_id: int | None, run_id: int, latency_ms: float,
                answers: list[tuple[str, float, bool]]) -> None:
    """One request's answers: (label, calibrated confidence, uncertain) each, in one insert."""
    if not answers:
        return
    now = utcnow()
    rows: list[dict[str, Any]] = [
        {"created_at": now, "request_id": request_id, "key_id": key_id, "run_id": run_id, "latency_ms": latency_ms,
         "label": label, "confidence": confidence, "uncertain": uncertain} for label, confidence, uncertain in answers]
    with session_factory().begin() as s:
        s.execute(insert(ApiPrediction), rows)


def logged_answers(run_id: int, since: datetime | None = None) -> pd.DataFrame:
    """A run's logged answers (columns: LOG_COLUMNS), oldest first; `since` in UTC."""
    query = select(*[getattr(ApiPrediction, c) for c in LOG_COLUMNS]).where(ApiPrediction.run_id == run_id)
    if since is not None:
        query = query.where(ApiPrediction.created_at >= since)
    with session_factory()() as s:
        rows = s.execute(query.order_by(ApiPrediction.id)).all()
    return pd.DataFrame([tuple(r) for r in rows], columns=LOG_COLUMNS)


def runs_with_answers() -> list[int]:
    """Runs the API has answered for, most recently used first."""
    latest = func.max(ApiPrediction.id)
    with session_factory()() as s:
        return list(s.scalars(select(ApiPrediction.run_id).group_by(ApiPrediction.run_id).order_by(latest.desc())))
