"""The engine, the schema and its migrations. Those marked both_databases also run on PostgreSQL (tests/conftest.py);
the SQL they write by hand is written for both (booleans as false, not 0)."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, select

from storage.db import get_engine, init_db, reset_engines, session_factory
from storage.models import QUEUED, Dataset, Run


def test_schema_is_created_in_the_data_folder_in_wal_mode(tuneboard_home):
    engine = init_db()
    assert (tuneboard_home / "tuneboard.db").exists()
    tables = set(inspect(engine).get_table_names())
    assert {"datasets", "runs", "metric_points", "predictions", "workers", "alembic_version"} <= tables
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000


@pytest.mark.both_databases
def test_upgrade_keeps_existing_rows(tuneboard_home):
    Session = session_factory()
    with Session.begin() as s:
        s.add(Dataset(name="tickets", task="text", labels=["a", "b"]))
    reset_engines()  # a new process start runs the migrations again
    with session_factory()() as s:
        (row,) = s.scalars(select(Dataset)).all()
        assert row.labels == ["a", "b"]


def test_one_sessionmaker_per_engine_made_once(tmp_path):
    first = session_factory()
    assert session_factory() is first  # not a new sessionmaker per call
    assert first.kw["bind"] is get_engine()
    elsewhere = session_factory(f"sqlite:///{tmp_path / 'elsewhere.db'}")
    assert elsewhere is not first and elsewhere.kw["bind"] is not first.kw["bind"]  # another engine, its own
    reset_engines()  # tests switch data folders: the old engine is disposed, its sessionmaker forgotten
    again = session_factory()
    assert again is not first and again.kw["bind"] is get_engine() and session_factory() is again
    with again.begin() as s:  # bound to the new engine, whose schema is there
        s.add(Dataset(name="d", task="text"))
    with again() as s:
        assert s.scalars(select(Dataset.name)).all() == ["d"]


def test_database_url_overrides_the_default(tmp_path, monkeypatch, tuneboard_home):
    url = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    Session = session_factory()
    with Session.begin() as s:
        dataset = Dataset(name="d", task="image")
        s.add(dataset)
        s.flush()
        s.add(Run(dataset_id=dataset.id, config={"method": "lora"}))
    assert (tmp_path / "elsewhere.db").exists()
    assert not (tuneboard_home / "tuneboard.db").exists()
    with Session() as s:
        assert s.scalars(select(Run)).one().status == QUEUED


@pytest.mark.both_databases
def test_deleting_a_dataset_deletes_its_runs():
    Session = session_factory()
    with Session.begin() as s:
        dataset = Dataset(name="d", task="text")
        s.add(dataset)
        s.flush()
        s.add(Run(dataset_id=dataset.id))
    with Session.begin() as s:
        s.delete(s.scalars(select(Dataset)).one())
    with Session() as s:
        assert s.scalars(select(Run)).all() == []


@pytest.mark.both_databases
def test_upgrading_a_first_release_database_keeps_runs_predictions_and_curves(tuneboard_home):
    """A database created by the first schema (revision 0001), with a finished run, upgraded in place."""
    from alembic import command

    from storage.db import alembic_config, get_engine
    from storage.models import MetricPoint, Prediction
    from storage.paths import database_url

    with get_engine(database_url()).begin() as connection:
        command.upgrade(alembic_config(connection), "0001")
        connection.exec_driver_sql(
            "INSERT INTO datasets (id, name, task, created_at, source_name, fingerprint, path, num_examples, labels, "
            "split_counts, split_seed, report) VALUES (1, 'sms', 'text', '2026-11-23', '', '', '', 2, '[\"ham\", \"spam\"]',"
            " '{}', 42, '{}')")
        connection.exec_driver_sql(
            "INSERT INTO runs (id, dataset_id, name, config, status, progress, epoch, step, total_steps, message, error, "
            "created_at, worker_id, attempt, cancel_requested, resume_requested, device, metrics, artifact_dir) VALUES "
            "(1, 1, 'old', '{\"method\": \"lora\"}', 'succeeded', 1.0, 2.0, 10, 10, '', '', '2026-11-23', '', 1, false, false, "
            "'cpu', '{\"accuracy\": 0.9}', 'runs/1')")
        connection.exec_driver_sql(
            "INSERT INTO predictions (run_id, example_index, true_label, predicted_label, confidence, probabilities) "
            "VALUES (1, 0, 'ham', 'ham', 0.9, '[0.9, 0.1]')")
        connection.exec_driver_sql(
            "INSERT INTO metric_points (run_id, step, epoch, name, value) VALUES (1, 5, 1.0, 'train_loss', 0.3)")
    reset_engines()
    with session_factory()() as s:  # init_db upgrades to the newest revision
        run = s.get(Run, 1)
        assert (run.status, run.metrics, run.training, run.estimate) == ("succeeded", {"accuracy": 0.9}, {}, {})
        assert [p.predicted_label for p in s.scalars(select(Prediction))] == ["ham"]
        assert [m.value for m in s.scalars(select(MetricPoint))] == [0.3]
        assert s.connection().exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == "0014"


@pytest.mark.both_databases
def test_downgrading_the_training_column_keeps_predictions_and_curves(tuneboard_home):
    """Undoing revision 0002 drops the column in place: copying `runs`, with foreign keys on, would delete every
    run's predictions and curve points along with it."""
    from alembic import command

    from storage.db import alembic_config, get_engine
    from storage.models import MetricPoint, Prediction
    from storage.paths import database_url

    with session_factory().begin() as s:
        dataset = Dataset(name="d", task="text", labels=["ham", "spam"])
        s.add(dataset)
        s.flush()
        run = Run(dataset_id=dataset.id, config={"method": "lora"}, training={"epochs_run": 2})
        s.add(run)
        s.flush()
        s.add(Prediction(run_id=run.id, example_index=0, true_label="ham", predicted_label="ham", confidence=0.9,
                         probabilities=[0.9, 0.1]))
        s.add(MetricPoint(run_id=run.id, step=5, epoch=1.0, name="train_loss", value=0.3))
    with get_engine(database_url()).begin() as connection:
        if connection.dialect.name == "sqlite":
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        command.downgrade(alembic_config(connection), "0001")
        columns = {c["name"] for c in inspect(connection).get_columns("runs")}
        assert "training" not in columns and "estimate" not in columns and "config" in columns
        assert connection.exec_driver_sql("SELECT count(*) FROM predictions").scalar() == 1
        assert connection.exec_driver_sql("SELECT count(*) FROM metric_points").scalar() == 1
        assert connection.exec_driver_sql("SELECT count(*) FROM runs").scalar() == 1


@pytest.mark.both_databases
def test_answers_logged_before_feedback_get_their_place_in_the_request_and_the_step_back_keeps_them(tuneboard_home):
    """Revision 0008 numbers the answers of each logged request in their order (feedback names an answer by it), and
    undoing it drops only the new columns and table."""
    from alembic import command

    from storage.db import alembic_config, get_engine
    from storage.paths import database_url

    with get_engine(database_url()).begin() as connection:
        command.upgrade(alembic_config(connection), "0007")
        connection.exec_driver_sql("INSERT INTO datasets (id, name, task, created_at, source_name, fingerprint, path, "
                                   "num_examples, labels, split_counts, split_seed, report, target) VALUES (1, 'sms', "
                                   "'text', '2026-12-01', '', '', '', 2, '[]', '{}', 42, '{}', '{}')")
        connection.exec_driver_sql(
            "INSERT INTO runs (id, dataset_id, name, config, status, progress, epoch, step, total_steps, message, error, "
            "created_at, worker_id, attempt, cancel_requested, resume_requested, device, metrics, artifact_dir, training, "
            "estimate, calibration) VALUES (1, 1, '', '{}', 'succeeded', 1.0, 1.0, 1, 1, '', '', '2026-12-01', '', 1, "
            "false, false, 'cpu', '{}', 'runs/1', '{}', '{}', '{}')")
        for request_id, label in (("a", "ham"), ("b", "spam"), ("a", "spam"), ("a", "ham")):
            connection.exec_driver_sql(
                "INSERT INTO api_predictions (created_at, request_id, key_id, run_id, latency_ms, label, confidence, "
                f"uncertain) VALUES ('2026-12-03', '{request_id}', 1, 1, 5.0, '{label}', 0.9, false)")
        command.upgrade(alembic_config(connection), "head")
        rows = connection.exec_driver_sql("SELECT request_id, answer_index, shadow FROM api_predictions ORDER BY id").all()
        assert [tuple(r) for r in rows] == [("a", 0, 0), ("b", 0, 0), ("a", 1, 0), ("a", 2, 0)]
        command.downgrade(alembic_config(connection), "0007")
        assert "endpoints" not in inspect(connection).get_table_names()
        assert connection.exec_driver_sql("SELECT count(*) FROM api_predictions").scalar() == 4


@pytest.mark.slow  # four Python processes
@pytest.mark.both_databases
def test_processes_starting_together_on_a_new_database_migrate_it_once():
    """An app, workers and the API started at the same moment (deploy/compose.yaml, or a worker started beside a
    fresh app) all upgrade a new database: they take turns (PostgreSQL: an advisory lock; SQLite: a write
    transaction) instead of failing on tables another one is creating. On SQLite this failed in 5 tries of 5 before
    the write transaction (tests/test_disk_full.py's worker hit it in CI)."""
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    code = "from storage.db import init_db; init_db(); print('migrated')"
    processes = [subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=dict(os.environ), text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for _ in range(4)]
    outputs = [p.communicate(timeout=120)[0] for p in processes]
    assert [p.returncode for p in processes] == [0] * 4, outputs
    with session_factory()() as s:
        assert s.connection().exec_driver_sql("SELECT version_num FROM alembic_version").scalars().all() == ["0014"]
