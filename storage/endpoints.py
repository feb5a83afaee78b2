"""Named endpoints of the prediction API (/v1/endpoints/{name}/predict): made, changed and promoted on the API keys
and Monitor pages; read by the API on every request (so a change or a promotion counts from the next request on).

An endpoint serves its champion run. It may also have a challenger run (same task, same classes) that either answers
a set share of the requests (`split`: the caller gets the challenger's answer) or answers every request unseen
(`shadow`: both answer, only the champion's answer is returned; both are logged). Promoting swaps the two.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from storage.db import session_factory
from storage.models import CHAMPION_ONLY, SHADOW, SPLIT, SUCCEEDED, Dataset, Endpoint, Run, utcnow

MODES = {CHAMPION_ONLY: "Champion only", SPLIT: "Split: a share of requests to the challenger",
         SHADOW: "Shadow: the challenger answers too, unseen"}
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")  # one URL path segment, as typed


class EndpointError(ValueError):
    """An endpoint cannot be saved or promoted as asked; the message says why in one sentence."""


@dataclass(frozen=True)
class EndpointInfo:
    id: int
    name: str
    champion_run_id: int | None  # None: its run was deleted, and it cannot answer until given one
    challenger_run_id: int | None
    mode: str  # CHAMPION_ONLY | SPLIT | SHADOW
    challenger_share: float  # split: the share of requests the challenger answers, 0..1
    updated_at: datetime
    promoted_at: datetime | None

    @property
    def challenger_active(self) -> bool:
        return self.challenger_run_id is not None and self.mode != CHAMPION_ONLY


def _info(row: Endpoint) -> EndpointInfo:
    return EndpointInfo(row.id, row.name, row.champion_run_id, row.challenger_run_id, row.mode,
                        row.challenger_share, row.updated_at, row.promoted_at)


def _run_classes(s, run_id: int, role: str) -> tuple[str, tuple[str, ...]]:
    row = s.execute(select(Run.status, Dataset.task, Dataset.labels).join(Dataset, Dataset.id == Run.dataset_id)
                    .where(Run.id == run_id)).first()
    if row is None:
        raise EndpointError(f"There is no run {run_id} to be the {role}.")
    if row.status != SUCCEEDED:
        raise EndpointError(f"Run {run_id} is {row.status}; only a finished run can be the {role}.")
    return row.task, tuple(row.labels or ())


def _check(s, champion: int, challenger: int | None, mode: str, share: float) -> None:
    if mode not in MODES:
        raise EndpointError(f"The mode must be one of {', '.join(MODES)}.")
    if not 0.0 <= share <= 1.0:
        raise EndpointError("The challenger's share must be between 0 and 1 (0% and 100%).")
    if mode != CHAMPION_ONLY and challenger is None:
        raise EndpointError("Choose a challenger run, or set the mode to champion only.")
    task, labels = _run_classes(s, champion, "champion")
    if challenger is None:
        return
    if challenger == champion:
        raise EndpointError("The challenger must be another run than the champion.")
    other_task, other_labels = _run_classes(s, challenger, "challenger")
    if (other_task, other_labels) != (task, labels):
        raise EndpointError(f"Run {challenger} does not classify the same way as run {champion} (its task or classes "
                            "differ); a challenger must answer with the same classes, so that answers compare.")


def save_endpoint(name: str, champion_run_id: int, challenger_run_id: int | None = None, mode: str = CHAMPION_ONLY,
                  challenger_share: float = 0.0) -> EndpointInfo:
    """Make the endpoint `name`, or change it when it exists (the next request follows the change)."""
    name = name.strip()
    if not NAME_PATTERN.fullmatch(name):
        raise EndpointError("An endpoint's name is 1 to 64 letters, digits, - or _ (it goes in the address), "
                            "starting with a letter or digit, e.g. spam-filter.")
    with session_factory().begin() as s:
        _check(s, champion_run_id, challenger_run_id, mode, float(challenger_share))
        row = s.scalar(select(Endpoint).where(Endpoint.name == name))
        if row is None:
            row = Endpoint(name=name, created_at=utcnow())
            s.add(row)
        row.champion_run_id, row.challenger_run_id = champion_run_id, challenger_run_id
        row.mode, row.challenger_share, row.updated_at = mode, float(challenger_share), utcnow()
        s.flush()
        return _info(row)


def get_endpoint(name: str) -> EndpointInfo | None:
    with session_factory()() as s:
        row = s.scalar(select(Endpoint).where(Endpoint.name == name))
        return _info(row) if row is not None else None


def list_endpoints() -> list[EndpointInfo]:
    with session_factory()() as s:
        return [_info(row) for row in s.scalars(select(Endpoint).order_by(Endpoint.name))]


def promote(name: str) -> EndpointInfo:
    """The challenger becomes the champion and the champion the challenger (mode and share kept)."""
    with session_factory().begin() as s:
        row = s.scalar(select(Endpoint).where(Endpoint.name == name))
        if row is None:
            raise EndpointError(f"There is no endpoint {name}.")
        if row.challenger_run_id is None:
            raise EndpointError(f"Endpoint {name} has no challenger to promote.")
        _run_classes(s, row.challenger_run_id, "champion")
        row.champion_run_id, row.challenger_run_id = row.challenger_run_id, row.champion_run_id
        row.updated_at = row.promoted_at = utcnow()
        return _info(row)


def delete_endpoint(name: str) -> None:
    with session_factory().begin() as s:
        row = s.scalar(select(Endpoint).where(Endpoint.name == name))
        if row is None:
            raise EndpointError(f"There is no endpoint {name}.")
        s.delete(row)
