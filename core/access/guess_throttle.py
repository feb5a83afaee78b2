"""A growing delay between wrong guesses of a secret, per key (a browser session, a client address).

After `free` wrong guesses a key must wait before its next guess is looked at: `first_delay_s`, doubling with
each further wrong guess, up to `max_delay_s`. The cap keeps the real user's wait short (seconds, never a
lock-out), while an attacker's rate drops from the server's full speed to one guess per `max_delay_s`: 250 guesses
went through in seconds before; now they take about two hours from one key. A key with no wrong guess for
`forget_after_s` starts over, so an old typo does not slow anyone down the next day.

No sleeping here: `wait_s` says how long is left and the caller refuses a guess that comes too early, unchecked.
The clock is injectable so tests can step through the schedule without waiting.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    free: int = 3  # wrong guesses allowed at full speed (typos)
    first_delay_s: float = 1.0  # the wait after the first wrong guess past `free`
    max_delay_s: float = 30.0  # the longest wait between two guesses
    forget_after_s: float = 15 * 60  # a key this long without a wrong guess starts over

    def delay_s(self, wrong: int) -> float:
        """Seconds to wait after the `wrong`-th wrong guess: 0 while free, then 1, 2, 4, ... capped."""
        if wrong < self.free:
            return 0.0
        return min(self.max_delay_s, self.first_delay_s * 2 ** min(wrong - self.free, 64))


@dataclass
class _Record:
    wrong: int  # wrong guesses so far
    last_s: float  # clock time of the latest one


class GuessThrottle:
    """Wrong-guess counts per key. Thread-safe: Streamlit runs each browser session's script on its own thread."""

    def __init__(self, backoff: Backoff = Backoff(), clock: Callable[[], float] = time.monotonic) -> None:
        self.backoff, self.clock = backoff, clock
        self._records: dict[str, _Record] = {}
        self._lock = threading.Lock()

    def wait_s(self, key: str) -> float:
        """Seconds before `key` may guess again (0: now)."""
        with self._lock:
            record = self._current(key)
            if record is None:
                return 0.0
            return max(0.0, record.last_s + self.backoff.delay_s(record.wrong) - self.clock())

    def wrong(self, key: str) -> None:
        with self._lock:
            record = self._current(key) or _Record(0, 0.0)
            self._records[key] = _Record(record.wrong + 1, self.clock())
            if len(self._records) > 10_000:  # one record per session or address ever seen: drop the forgotten ones
                self._records = {k: r for k, r in self._records.items() if not self._expired(r)}

    def right(self, key: str) -> None:
        with self._lock:
            self._records.pop(key, None)

    def _current(self, key: str) -> _Record | None:
        record = self._records.get(key)
        if record is not None and self._expired(record):
            del self._records[key]
            return None
        return record

    def _expired(self, record: _Record) -> bool:
        return self.clock() - record.last_s > self.backoff.forget_after_s

