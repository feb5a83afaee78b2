"""The API's answer log (core.api.answer_log.AnswerLog): one thread writes the answers of many requests in one
transaction, feedback waits for a request's answers to be written, and a failed write neither loses the server nor
leaves feedback waiting. The write is a list here (storage.api_log.insert_answers is tested over real HTTP in
tests/test_api_feedback.py)."""

from __future__ import annotations

import threading
import time

from core.api.answer_log import AnswerLog


def test_answers_of_requests_made_together_are_written_in_one_transaction_and_waited_for():
    writes: list[list[dict]] = []
    log = AnswerLog(write=writes.append, linger_seconds=0.2)
    try:
        for i in range(5):
            log.expect(f"r{i}")
            log.put(f"r{i}", [{"request_id": f"r{i}", "answer_index": 0}])
        log.wait("r4")
        assert [[row["request_id"] for row in rows] for rows in writes] == [["r0", "r1", "r2", "r3", "r4"]]
    finally:
        log.close()


def test_a_shadow_part_keeps_its_request_waited_for_until_it_is_written():
    writes: list[list[dict]] = []
    log = AnswerLog(write=writes.append, linger_seconds=0.0)
    try:
        log.expect("r", parts=2)
        log.put("r", [{"role": "champion"}])
        time.sleep(0.1)
        waited = threading.Thread(target=log.wait, args=("r",))
        waited.start()
        waited.join(0.3)
        assert waited.is_alive()  # the shadow's part is not written yet
        log.put("r", [{"role": "challenger"}])
        waited.join(5)
        assert not waited.is_alive()
        assert [row["role"] for rows in writes for row in rows] == ["champion", "challenger"]
    finally:
        log.close()


def test_a_failed_write_is_logged_and_does_not_keep_feedback_waiting(caplog):
    def broken(rows):
        raise OSError("database is locked")

    log = AnswerLog(write=broken, linger_seconds=0.0)
    try:
        log.expect("r")
        log.put("r", [{"request_id": "r"}])
        started = time.monotonic()
        log.wait("r", timeout=5)
        assert time.monotonic() - started < 4
    finally:
        log.close()
    assert "could not log the answers of 1 requests" in caplog.text


def test_closing_writes_what_is_queued():
    writes: list[list[dict]] = []
    log = AnswerLog(write=writes.append, linger_seconds=5.0)
    log.expect("r")
    log.put("r", [{"request_id": "r"}])
    started = time.monotonic()
    log.close()  # at once, not after the linger
    assert writes == [[{"request_id": "r"}]] and time.monotonic() - started < 2.5
