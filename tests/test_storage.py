from __future__ import annotations

from sqlalchemy import inspect, select

from storage.db import init_db, reset_engines, session_factory
from storage.models import QUEUED, Dataset, Run


def test_schema_is_created_in_the_data_folder_in_wal_mode(tuneboard_home):
    engine = init_db()
    assert (tuneboard_home / "tuneboard.db").exists()
    tables = set(inspect(engine).get_table_names())
    assert {"datasets", "runs", "metric_points", "predictions", "workers", "alembic_version"} <= tables
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000


def test_upgrade_keeps_existing_rows(tuneboard_home):
    Session = session_factory()
    with Session.begin() as s:
        s.add(Dataset(name="tickets", task="text", labels=["a", "b"]))
    reset_engines()  # a new process start runs the migrations again
    with session_factory()() as s:
        (row,) = s.scalars(select(Dataset)).all()
        assert row.labels == ["a", "b"]


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
