"""Every test gets its own empty data folder and SQLite database, and a sign-in throttle with no wrong guesses."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# Hooks, registered by their names: under CI=true a skipped test fails (see tests/skips_in_ci.py).
from tests.skips_in_ci import pytest_make_collect_report, pytest_runtest_makereport  # noqa: F401

pytest_plugins = ["pytester"]  # tests/test_ci.py runs pytest on small example files

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATASETS = ROOT.parent / "shared" / "datasets"
SMS_SPAM = SHARED_DATASETS / "sms_spam" / "SMSSpamCollection.tsv"
HYMENOPTERA = SHARED_DATASETS / "hymenoptera"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TUNEBOARD_NO_WORKER", "1")  # pages never spawn a worker under test unless a test asks
# Estimates from the rough table, not a probe child per page opened (seconds each); tests/test_probe.py and the
# Train page's estimate test measure with the probe.
os.environ.setdefault("TUNEBOARD_ESTIMATE", "rough")
if os.environ.get("PYTEST_XDIST_WORKER"):
    # Tests run two at a time (the README's test command: pytest -n 2 on a 2-core machine): each test, and every
    # process it starts (a worker, the CLI, the app), trains on one core (core.training.device.cpu_threads), so
    # the two do not fight over both. Set before torch is imported anywhere.
    os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="session", autouse=True)
def finished_runs_folder(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Where tests/finished_runs.py keeps its trained runs: this session's temporary folder, shared by the
    processes of `pytest -n 2` (their folders sit side by side in it); pytest removes it a few sessions later."""
    from tests import finished_runs

    base = tmp_path_factory.getbasetemp()
    finished_runs.SCRATCH = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "finished-runs"


@pytest.fixture(autouse=True)
def tuneboard_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from core.access import sign_in
    from storage.db import reset_engines

    # Wrong passwords slow down later guesses for the whole process (AppTest sessions all share one id and address)
    monkeypatch.setattr(sign_in, "THROTTLE", sign_in.SignInThrottle())

    home = tmp_path / "tuneboard_home"
    monkeypatch.setenv("TUNEBOARD_HOME", str(home))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    reset_engines()
    # AppTest runs a page as __main__ and leaves it there when the page raises; a later test that spawns processes
    # (multiprocessing re-runs __main__'s file in each child) would then start children that run that page.
    monkeypatch.setitem(sys.modules, "__main__", sys.modules["__main__"])
    yield home
    reset_engines()


def require(path: Path) -> Path:
    """The real data set at `path`; without it the test skips (and fails in CI, tests/skips_in_ci.py)."""
    if not path.exists():
        pytest.skip(f"real data set not found at {path} (the shared datasets folder sits beside the repo)")
    return path
