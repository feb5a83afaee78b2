"""Keys for the prediction API: made, listed and revoked on the API keys page; checked on every API request.

A key is `tb_` + 32 random bytes (secrets.token_urlsafe). Only its sha256 is stored, so a copy of the database gives
nobody a working key; the key itself is returned once, by `create_key`, for the page to show. A key is found by its
hash (an indexed, unique column) and the stored hash is compared again in constant time. A revoked key stays listed,
marked revoked, and is refused from the next request on (nothing caches keys).

A key may opt in to having the texts it sends kept beside their answers (`log_inputs`, off unless asked for; images
are never kept): the Monitor page then shows them. Turning it off keeps nothing more from the next request on.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update

from storage.db import session_factory
from storage.models import ApiKey, utcnow

KEY_PREFIX = "tb_"
SHOWN_PREFIX_CHARS = 10  # "tb_" and 7 more: enough to tell keys apart on the page, useless for guessing
DEFAULT_REQUESTS_PER_MINUTE = 120
MAX_REQUESTS_PER_MINUTE = 100_000
MAX_NAME_CHARS = 200
LAST_USED_RESOLUTION = timedelta(minutes=1)  # last_used_at is written at most this often per key


class ApiKeyError(ValueError):
    """A key cannot be made or revoked as asked; the message says why in one sentence."""


@dataclass(frozen=True)
class KeyInfo:
    """A key as the page lists it and the API checks it (never the key itself)."""

    id: int
    name: str
    prefix: str
    requests_per_minute: int
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    log_inputs: bool = False  # keep the texts this key sends (storage.api_log); off unless the user opts in

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def _info(row: ApiKey) -> KeyInfo:
    return KeyInfo(row.id, row.name, row.prefix, row.requests_per_minute, row.created_at, row.last_used_at,
                   row.revoked_at, bool(row.log_inputs))


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_key(name: str, requests_per_minute: int = DEFAULT_REQUESTS_PER_MINUTE,
               log_inputs: bool = False) -> tuple[KeyInfo, str]:
    """A new key: (what is stored about it, the key itself, to be shown once and never again)."""
    name = name.strip()
    if not name:
        raise ApiKeyError("Give the key a name, such as the system that will use it.")
    if len(name) > MAX_NAME_CHARS:
        raise ApiKeyError(f"A key's name can be at most {MAX_NAME_CHARS} characters; use a shorter one.")
    if not 1 <= int(requests_per_minute) <= MAX_REQUESTS_PER_MINUTE:
        raise ApiKeyError(f"Requests per minute must be between 1 and {MAX_REQUESTS_PER_MINUTE:,}.")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    with session_factory().begin() as s:
        row = ApiKey(name=name, prefix=key[:SHOWN_PREFIX_CHARS], key_hash=hash_key(key),
                     requests_per_minute=int(requests_per_minute), created_at=utcnow(), log_inputs=bool(log_inputs))
        s.add(row)
        s.flush()
        return _info(row), key


def list_keys() -> list[KeyInfo]:
    """Every key, active ones first, newest first within each."""
    with session_factory()() as s:
        rows = s.scalars(select(ApiKey).order_by(ApiKey.revoked_at.is_not(None), ApiKey.id.desc())).all()
        return [_info(row) for row in rows]


def revoke_key(key_id: int) -> KeyInfo:
    """Refuse the key from now on (revoking it twice changes nothing)."""
    with session_factory().begin() as s:
        row = s.get(ApiKey, key_id)
        if row is None:
            raise ApiKeyError(f"There is no API key #{key_id}.")
        if row.revoked_at is None:
            row.revoked_at = utcnow()
        return _info(row)


def set_log_inputs(key_id: int, on: bool) -> KeyInfo:
    """Opt a key in to keeping the texts it sends, or out (what was kept stays; nothing more is)."""
    with session_factory().begin() as s:
        row = s.get(ApiKey, key_id)
        if row is None:
            raise ApiKeyError(f"There is no API key #{key_id}.")
        row.log_inputs = bool(on)
        return _info(row)


def find_key(key: str) -> KeyInfo | None:
    """The stored key this key is (revoked or not), or None when it is not one of ours."""
    if not key.startswith(KEY_PREFIX):
        return None
    wanted = hash_key(key)
    with session_factory()() as s:
        row = s.scalar(select(ApiKey).where(ApiKey.key_hash == wanted))
        # The lookup is by hash, so timing tells nothing about the key; compared again in constant time all the same.
        if row is None or not hmac.compare_digest(row.key_hash, wanted):
            return None
        return _info(row)


def note_use(key: KeyInfo) -> None:
    """Record that the key was used now, to the minute: no write at all when the key says it was used this minute
    (SQLite has one writer at a time, and the worker writes training progress)."""
    now = utcnow()
    if key.last_used_at is not None and key.last_used_at >= now - LAST_USED_RESOLUTION:
        return
    with session_factory().begin() as s:
        s.execute(update(ApiKey).where(ApiKey.id == key.id, or_(ApiKey.last_used_at.is_(None),
                                                                ApiKey.last_used_at < now - LAST_USED_RESOLUTION))
                  .values(last_used_at=now))
