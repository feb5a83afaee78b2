"""Staging folders of uploads never saved (issue 22): they went only after 24 hours, when the next upload came."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import time

import pytest
from streamlit.testing.v1 import AppTest

from core.ingest import ingest_bytes
from core.ingest import ingested as staging
from storage.processes import process_identity
from tests.conftest import ROOT
from tests.test_ingest_images import class_folders, zip_of


def dead_identity() -> str:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.2)"])
    identity = process_identity(child.pid)
    child.wait()
    return identity


def leftover(name: str, owner: str | None, age_s: float = 0.0):
    folder = staging.staging_root() / name
    (folder / "images").mkdir(parents=True)
    (folder / "images" / "000001.jpg").write_bytes(b"staged")
    if owner is not None:
        (folder / staging.OWNER_FILE).write_text(owner)
    then = time.time() - age_s
    os.utime(folder, (then, then))
    return folder


def test_folders_of_dead_processes_go_at_once_and_others_after_a_day():
    day = staging.STAGING_MAX_AGE_S
    dead = leftover("dead", dead_identity())
    alive = leftover("alive", process_identity())
    alive_but_old = leftover("alive-old", process_identity(), age_s=day + 60)
    unowned = leftover("unowned", None)
    unowned_old = leftover("unowned-old", None, age_s=day + 60)
    assert sorted(p.name for p in staging.sweep_staging()) == ["alive-old", "dead", "unowned-old"]
    assert alive.exists() and unowned.exists()
    assert not (dead.exists() or alive_but_old.exists() or unowned_old.exists())


def test_an_upload_dropped_without_cleanup_takes_its_folder_with_it():
    """A closed browser session drops its state: the Ingested it held is collected, and its staged images go."""
    ingested = ingest_bytes("insects.zip", zip_of(class_folders(3)))
    folder = ingested.staging_dir
    assert (folder / staging.OWNER_FILE).read_text() == process_identity() and any((folder / "images").iterdir())
    del ingested
    gc.collect()
    assert not folder.exists()


@pytest.mark.slow  # runs the app script once (about 1.5 s)
def test_the_app_sweeps_when_its_process_starts_and_every_ten_minutes(monkeypatch):
    monkeypatch.setattr(staging, "_last_sweep", None)  # as in a process that has not swept yet
    dead = leftover("dead", dead_identity())
    AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    assert not dead.exists()
    later = leftover("dead-later", dead_identity())
    staging.sweep_staging_now_and_then()  # not due yet: the timer has not run out
    assert later.exists()
    staging.sweep_staging_now_and_then(now=time.time() + staging.STAGING_SWEEP_S + 1)
    assert not later.exists()
