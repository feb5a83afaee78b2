"""Every test gets its own empty data folder and SQLite database, and a sign-in throttle with no wrong guesses.

Tests marked `both_databases` run twice: on SQLite, and on PostgreSQL (those marked `postgresql` only there) in a fresh database of the server named by
TUNEBOARD_TEST_POSTGRES_URL (created before the test, dropped after it). Without that variable the PostgreSQL case
skips (and fails under CI=true); `.ci/run` starts a throwaway server and sets it (`.ci/postgres`).
"""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path

import pytest

# Hooks, registered by their names: under CI=true a skipped test fails (see tests/skips_in_ci.py).
from tests.skips_in_ci import pytest_make_collect_report, pytest_runtest_makereport  # noqa: F401

pytest_plugins = ["pytester"]  # tests/test_ci.py runs pytest on small example files

ROOT = Path(__file__).resolve().parents[1]
POSTGRES_URL_ENV = "TUNEBOARD_TEST_POSTGRES_URL"  # e.g. postgresql+psycopg://postgres@127.0.0.1:5432/postgres
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


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "database" not in metafunc.fixturenames:
        return
    if metafunc.definition.get_closest_marker("both_databases"):
        metafunc.parametrize("database", ["sqlite", "postgresql"], indirect=True)
    elif metafunc.definition.get_closest_marker("postgresql"):
        metafunc.parametrize("database", ["postgresql"], indirect=True)


@pytest.fixture
def database(request: pytest.FixtureRequest):
    """None for the default SQLite file in the data folder; for "postgresql", the URL of a fresh database on the
    server named by TUNEBOARD_TEST_POSTGRES_URL, dropped after the test (with the connections still open to it)."""
    if getattr(request, "param", "sqlite") == "sqlite":
        yield None
        return
    server = os.environ.get(POSTGRES_URL_ENV)
    if not server:
        pytest.skip(f"{POSTGRES_URL_ENV} is not set: no PostgreSQL server to test on (.ci/postgres starts one)")
    from sqlalchemy import create_engine, make_url
    from sqlalchemy.pool import NullPool

    name = f"tuneboard_test_{uuid.uuid4().hex[:16]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        from storage.db import reset_engines

        reset_engines()
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture(autouse=True)
def tuneboard_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database: str | None) -> Path:
    from core.access import sign_in
    from storage.db import reset_engines

    # Wrong passwords slow down later guesses for the whole process (AppTest sessions all share one id and address)
    monkeypatch.setattr(sign_in, "THROTTLE", sign_in.SignInThrottle())

    home = tmp_path / "tuneboard_home"
    monkeypatch.setenv("TUNEBOARD_HOME", str(home))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    if database is not None:
        monkeypatch.setenv("DATABASE_URL", database)
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
