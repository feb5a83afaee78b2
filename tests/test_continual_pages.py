"""Versions and continue training in the pages, as a user goes: the Data page lists a dataset's versions with what
changed; Results offers "Continue training"; the Train page's form queues the continued run; a real worker trains it;
its Results show before / after on the same test rows."""

from __future__ import annotations

import random

import pytest
from streamlit.testing.v1 import AppTest

from core.datasets.versions import new_version
from core.ingest import ingest_bytes
from storage.runs import get_run, list_runs
from tests.conftest import ROOT
from tests.finished_runs import HAM, SPAM, messages, text_run, use_run


def _page(page: str, **query: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    for key, value in query.items():
        at.query_params[key] = value
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


@pytest.mark.slow  # a finished run (tests/finished_runs.py) and a continued one trained by a real worker
def test_a_user_makes_a_version_continues_a_run_on_it_and_sees_what_it_gained_and_forgot(tuneboard_home):
    run_id = use_run(text_run(), tuneboard_home)
    parent = get_run(run_id)
    rng = random.Random(11)
    rows = [(t, "ham") for t in messages(40, HAM, rng)] + [(t, "spam") for t in messages(20, SPAM, rng)]
    upload = ingest_bytes("more.csv", ("message,category\n" + "".join(f'"{t}",{l}\n' for t, l in rows)).encode())
    try:
        v2 = new_version(parent.dataset_id, added=upload, note="June messages")
    finally:
        upload.cleanup()

    # Data: the versions, with what changed; saving no change is refused in words
    at = _page("pages/data.py")
    versions = next(d.value for d in at.dataframe if "what changed" in d.value.columns)
    assert list(versions["version"]) == ["v1", "v2"]
    assert "rows added" in versions["what changed"].iloc[1] and versions["note"].iloc[1] == "June messages"
    at.button(key=f"versions_save_{at.selectbox(key='versions_dataset').value}").click().run()
    assert any("nothing to save" in e.value for e in at.error)

    # Results of the finished run: the way to continue it
    at = _page("pages/results.py", run=str(run_id))
    [link] = [link for link in at.main.get("page_link") if "Continue training" in link.proto.label]
    assert (link.proto.page, link.proto.query_string, link.proto.disabled) == ("train", f"from_run={run_id}", False)

    # Train, opened from that link: the newest version is picked; Launch queues a continued run with replay
    at = _page("pages/train.py", from_run=str(run_id))
    assert at.selectbox(key="continue_version").value is not None
    at.slider(key="continue_replay").set_value(0.5).run()
    at.button(key="continue_launch").click().run()
    assert not at.exception
    queued = max(list_runs(), key=lambda r: r.id)
    assert queued.dataset_id == v2 and queued.config["from_run"] == run_id and queued.config["replay"] == 0.5

    from core.jobs.worker import Worker, WorkerSettings

    assert Worker(WorkerSettings(once=True, poll_seconds=0.1, heartbeat_seconds=0.5)).run() == 0
    finished = get_run(queued.id)
    assert finished.status == "succeeded", finished.error
    at = _page("pages/results.py", run=str(queued.id))
    table = next(d.value for d in at.dataframe if "before" in d.value.columns and "reading" in d.value.columns)
    assert list(table["test rows"]) == ["New version's test set", "Earlier version's test rows (forgetting)",
                                        "Test rows added since (gained)"]
    sets = finished.metrics["continual"]["sets"]
    assert list(table["rows"]) == [sets[k]["examples"] for k in ("all", "old", "added")]
    assert table["before"].str.contains("%").all() and table["after"].str.contains(" to ").all()

    # Runs: each run says the version it trained on
    at = _page("pages/runs.py")
    runs = next(d.value for d in at.dataframe if "Version" in d.value.columns)
    assert dict(zip(runs["Run"], runs["Version"])) == {run_id: "v1", queued.id: "v2"}

    # The downloaded report says the same as Results
    from core.report.build import build_report

    report = build_report(queued.id)
    assert "What it gained and forgot" in report and "Earlier version&#x27;s test rows (forgetting)" in report
    assert all(f"<td>{before}</td>" in report for before in table["before"])
    assert "What it gained and forgot" not in build_report(run_id)  # a run trained from the start has no such part
