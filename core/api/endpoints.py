"""Champion/challenger: which run answers a request to a named endpoint (/v1/endpoints/{name}/predict).

The endpoint (storage.endpoints) serves its champion. With a challenger:
- split: a set share of requests is answered by the challenger. Which ones is decided by the request id alone
  (`goes_to_challenger`: its sha256 read as a number in [0, 1) against the share), so a request's route can be
  recomputed from the log, and over many requests the challenger gets the share asked for;
- shadow: the champion answers and its answer is returned; after the reply the challenger answers the same inputs
  and both are logged, marked with the endpoint and their roles, the challenger's as a shadow.
A challenger that cannot answer (its model deleted, say) leaves the champion answering alone; the server logs why.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

from core.api.errors import ApiError
from core.api.prediction import finished_run
from storage.endpoints import EndpointInfo, get_endpoint
from storage.models import CHALLENGER, CHAMPION, SHADOW, SPLIT
from storage.results import RunResult

log = logging.getLogger("tuneboard.api")


def goes_to_challenger(request_id: str, share: float) -> bool:
    """Split routing, deterministic in the request id: True for about `share` of random ids."""
    digest = hashlib.sha256(request_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2 ** 64 < share


@dataclass(frozen=True)
class Route:
    endpoint: EndpointInfo
    answering: RunResult  # the run whose answer is returned
    role: str  # CHAMPION | CHALLENGER
    shadow: RunResult | None  # the challenger answering unseen, after the reply (shadow mode)


def route(name: str, request_id: str, lookup: Callable[[int], RunResult] = finished_run) -> Route:
    """The runs that answer this request to endpoint `name`, or the refusal saying why none can (the endpoint is
    read on every request, so a promotion counts from the next one; its runs through `lookup`)."""
    endpoint = get_endpoint(name)
    if endpoint is None:
        raise ApiError(404, "unknown_endpoint", "There is no endpoint with this name; endpoints are made on "
                       "Tuneboard's API keys page.")
    if endpoint.champion_run_id is None:
        raise ApiError(409, "endpoint_without_run", "This endpoint's run was deleted; choose another on Tuneboard's "
                       "API keys page.")
    champion = lookup(endpoint.champion_run_id)
    challenger = None
    if endpoint.challenger_active and endpoint.challenger_run_id is not None:
        try:
            challenger = lookup(endpoint.challenger_run_id)
        except ApiError as error:
            log.warning("endpoint %s: the challenger, run %s, cannot answer (%s); the champion answers alone",
                        name, endpoint.challenger_run_id, error.message)
    if challenger is not None and endpoint.mode == SPLIT and goes_to_challenger(request_id, endpoint.challenger_share):
        return Route(endpoint, challenger, CHALLENGER, None)
    return Route(endpoint, champion, CHAMPION, challenger if endpoint.mode == SHADOW else None)
