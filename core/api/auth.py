"""Who may call the API: an API key on every request (`Authorization: Bearer <key>`), and a rate limit per key.

Keys are made, listed and revoked on the app's API keys page (storage.api_keys keeps only their hashes). A key is
looked up on every request, so a revoked key is refused from the next request on. The rate limit is a token bucket
per key, in this process's memory: a key may send `requests_per_minute` requests at once, then one every
60 / requests_per_minute seconds; past it the answer is 429 with Retry-After (whole seconds).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from core.api.errors import ApiError
from storage.api_keys import KeyInfo, find_key, note_use

CREATE_KEY = "create one on Tuneboard's API keys page"
bearer = HTTPBearer(auto_error=False, scheme_name="API key",
                    description=f"An API key: {CREATE_KEY}. Sent as `Authorization: Bearer <key>`.")


@dataclass
class _Bucket:
    tokens: float
    at: float  # clock time of the last refill


class RateLimiter:
    """Token buckets per key id. Thread-safe; the clock is injectable so tests can step through time."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._buckets: dict[int, _Bucket] = {}
        self._lock = threading.Lock()

    def take(self, key_id: int, per_minute: int) -> float:
        """Spend one request of the key's allowance: 0.0 when allowed, else the seconds until one is allowed."""
        capacity, per_second = float(per_minute), per_minute / 60.0
        now = self.clock()
        with self._lock:
            bucket = self._buckets.get(key_id)
            if bucket is None:
                bucket = self._buckets[key_id] = _Bucket(capacity, now)
            bucket.tokens = min(capacity, bucket.tokens + (now - bucket.at) * per_second)
            bucket.at = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0.0
            return (1.0 - bucket.tokens) / per_second


def check_key(key: str) -> KeyInfo:
    """The stored key for this key, or the 401 that says plainly why not."""
    found = find_key(key)
    if found is None:
        raise ApiError(401, "invalid_key", f"This API key is not one of this Tuneboard's keys; check that it was copied "
                       f"whole, or {CREATE_KEY}.", {"WWW-Authenticate": "Bearer"})
    if not found.active:
        raise ApiError(401, "revoked_key", f"This API key was revoked; {CREATE_KEY}.", {"WWW-Authenticate": "Bearer"})
    return found


def require_key(request: Request,
                credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> KeyInfo | None:
    """FastAPI dependency on every /v1 route: the caller's key (None when the server runs with --no-auth)."""
    settings = request.app.state.settings
    if not settings.auth:
        return None
    if credentials is None:
        raise ApiError(401, "missing_key", f"Send an API key as `Authorization: Bearer <key>`; {CREATE_KEY}.",
                       {"WWW-Authenticate": "Bearer"})
    key = check_key(credentials.credentials)
    wait = request.app.state.rate_limiter.take(key.id, key.requests_per_minute)
    if wait > 0:
        seconds = max(1, math.ceil(wait))
        raise ApiError(429, "rate_limited", f"This key may send {key.requests_per_minute} requests a minute; wait "
                       f"{seconds} s and try again.", {"Retry-After": str(seconds)})
    note_use(key)
    return key
