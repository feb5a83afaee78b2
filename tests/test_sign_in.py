"""Password guessing is slowed down (core/access/guess_throttle.py, core/access/sign_in.py): a growing delay per browser session
and per client address, capped so the real user never waits long. A stepped clock stands in for time passing."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from core.access import sign_in
from core.access.guess_throttle import Backoff, GuessThrottle
from core.access.sign_in import SignInThrottle, attempt, is_signed_in
from tests.conftest import ROOT

PASSWORD = "s3cret pilot"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(sign_in, "THROTTLE", SignInThrottle(clock=clock))
    monkeypatch.setenv("TUNEBOARD_PASSWORD", PASSWORD)
    return clock


def test_the_delay_doubles_after_the_free_guesses_and_stops_at_the_cap():
    backoff = Backoff(free=3, first_delay_s=1, max_delay_s=30)
    assert [backoff.delay_s(wrong) for wrong in range(1, 11)] == [0, 0, 1, 2, 4, 8, 16, 30, 30, 30]


def test_a_key_waits_out_its_delay_then_guesses_again():
    clock = Clock()
    throttle = GuessThrottle(Backoff(free=2, first_delay_s=1, max_delay_s=30), clock=clock)
    throttle.wrong("s")
    assert throttle.wait_s("s") == 0
    throttle.wrong("s")
    assert throttle.wait_s("s") == 1
    clock.now += 0.75
    assert throttle.wait_s("s") == 0.25
    clock.now += 0.25
    assert throttle.wait_s("s") == 0
    throttle.wrong("s")
    assert throttle.wait_s("s") == 2
    assert throttle.wait_s("another session") == 0


def test_a_right_password_or_a_quiet_quarter_hour_starts_over():
    clock = Clock()
    throttle = GuessThrottle(Backoff(free=2, forget_after_s=900), clock=clock)
    throttle.wrong("s")
    throttle.wrong("s")
    throttle.right("s")
    assert throttle.wait_s("s") == 0
    for _ in range(3):
        throttle.wrong("s")
    assert throttle.wait_s("s") == 2
    clock.now += 901
    throttle.wrong("s")  # counted as the first wrong guess again: free
    assert throttle.wait_s("s") == 0


def test_a_guess_that_comes_too_soon_is_refused_without_being_checked(clock):
    for _ in range(3):
        assert not attempt("wrong", "session-1", "10.0.0.7").signed_in
    too_soon = attempt(PASSWORD, "session-1", "10.0.0.7")
    assert not too_soon.signed_in and not is_signed_in("session-1")
    assert too_soon.message == "Too many wrong passwords: wait 1 second, then try again."
    clock.now += 1
    assert attempt(PASSWORD, "session-1", "10.0.0.7").signed_in and is_signed_in("session-1")


def test_a_new_session_for_each_guess_is_slowed_down_by_its_address(clock):
    """The attack: 250 guesses, each from a fresh browser session, as fast as the server allows. They went through
    at full speed; now the address's delay grows to 30 s a guess, about two hours in all."""
    started = clock.now
    for guess in range(250):
        result = attempt(f"guess {guess}", f"session-{guess}", "10.0.0.7")
        while result.message.startswith("Too many"):  # refused unchecked: wait as long as it says, then resend
            clock.now += sign_in.THROTTLE.wait_s(f"session-{guess}", "10.0.0.7")
            result = attempt(f"guess {guess}", f"session-{guess}", "10.0.0.7")
        assert not result.signed_in
    assert clock.now - started > 6900
    # Another address is not slowed down by it, and the real user there gets in at once.
    assert attempt(PASSWORD, "session-real", "10.0.0.8").signed_in


def test_the_password_form_refuses_the_fourth_quick_guess_with_a_wait(clock):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30).run()
    for _ in range(2):
        at.text_input(key="password").set_value("wrong").run()
        assert at.error[0].value == "That password is not right. Check it and try again."
    at.text_input(key="password").set_value("wrong again").run()
    assert at.error[0].value == "That password is not right. Wait 1 second, then try again."
    assert at.text_input(key="password").value == ""  # emptied for the next try

    # The right password, too soon: refused unchecked, so still signed out.
    at.text_input(key="password").set_value(PASSWORD).run()
    assert at.error[0].value == "Too many wrong passwords: wait 1 second, then try again."
    assert not at.metric and [t.label for t in at.text_input] == ["Password"]

    clock.now += 1
    at.text_input(key="password").set_value(PASSWORD).run()
    assert not at.exception
    assert [m.label for m in at.metric][:2] == ["Datasets", "Runs"]
