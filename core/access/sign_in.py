"""Signing in with the shared password (TUNEBOARD_PASSWORD): one guess at a time, slowed down after wrong ones,
and the list of browser sessions that got in, which the server's upload gate reads (core/access/upload_gate.py).

The password form itself is pages/shared/gate.py; this module holds what it decides, without Streamlit.
"""

from __future__ import annotations

import hmac
import math
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass

from core.access.guess_throttle import Backoff, GuessThrottle

PASSWORD_ENV = "TUNEBOARD_PASSWORD"
NOT_RIGHT = "That password is not right."


def password_set() -> bool:
    return bool(os.environ.get(PASSWORD_ENV))


class SignInThrottle:
    """Wrong guesses slow down the browser session that made them and every session from the same client address.

    The address covers an attacker who opens a new session for each guess. It gets more free guesses than a session
    because several people can share one address (an office network; behind a reverse proxy every visitor has the
    proxy's), and the cap keeps what a real user behind it waits short."""

    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        extra = {"clock": clock} if clock else {}
        self.sessions = GuessThrottle(Backoff(free=3), **extra)
        self.addresses = GuessThrottle(Backoff(free=10), **extra)

    def wait_s(self, session_id: str, address: str) -> float:
        return max(self.sessions.wait_s(session_id), self.addresses.wait_s(address))

    def wrong(self, session_id: str, address: str) -> None:
        self.sessions.wrong(session_id)
        self.addresses.wrong(address)

    def right(self, session_id: str) -> None:
        # Only the session starts over: the address's count fades by itself (Backoff.forget_after_s), so a real
        # user signing in does not hand fresh free guesses to someone else guessing from the same address.
        self.sessions.right(session_id)


THROTTLE = SignInThrottle()

# Streamlit session ids (random UUIDs, never reused) that signed in since the server started. One short string per
# sign-in; an id outlives its session harmlessly, as Streamlit refuses uploads to sessions that are gone.
_signed_in: set[str] = set()
_signed_in_lock = threading.Lock()


@dataclass(frozen=True)
class Attempt:
    signed_in: bool
    message: str = ""  # one sentence for the user when not signed in


def attempt(typed: str, session_id: str, address: str | None) -> Attempt:
    """Check one typed password for a browser session, unless it comes too soon after wrong ones.

    `address` is the client's IP address (None when unknown or local: all such sessions share one count)."""
    address = address or "local"
    wait = THROTTLE.wait_s(session_id, address)
    if wait > 0:  # refused without looking at it: guessing faster gains nothing
        return Attempt(False, f"Too many wrong passwords: wait {seconds_text(wait)}, then try again.")
    # compare_digest: the time taken does not reveal how much of the password was right
    if hmac.compare_digest(typed.encode(), os.environ.get(PASSWORD_ENV, "").encode()) and password_set():
        THROTTLE.right(session_id)
        with _signed_in_lock:
            _signed_in.add(session_id)
        return Attempt(True)
    THROTTLE.wrong(session_id, address)
    wait = THROTTLE.wait_s(session_id, address)
    then = "Check it and try again." if wait <= 0 else f"Wait {seconds_text(wait)}, then try again."
    return Attempt(False, f"{NOT_RIGHT} {then}")


def is_signed_in(session_id: str) -> bool:
    with _signed_in_lock:
        return session_id in _signed_in


def seconds_text(seconds: float) -> str:
    """Whole seconds, rounded up: "1 second", "4 seconds"."""
    whole = max(1, math.ceil(seconds))
    return f"{whole} second{'s' if whole != 1 else ''}"
