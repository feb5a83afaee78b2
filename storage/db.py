"""Engine and session setup. SQLite (WAL, busy timeout) by default; DATABASE_URL overrides it.

The schema is owned by Alembic migrations in storage/migrations: `init_db()` upgrades any
database to the newest revision, so an upgrade of Tuneboard never breaks a user's database.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from storage.paths import database_url

if TYPE_CHECKING:
    from alembic.config import Config
    from optuna.storages import RDBStorage

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
MIGRATION_LOCK = (0x7475_6E65, 1)  # PostgreSQL advisory lock (two-key form, apart from storage.datasets' keys)
SQLITE_BUSY_TIMEOUT_MS = 30_000  # writers wait for each other instead of failing with "database is locked"

_lock = threading.Lock()
_migrate_lock = threading.Lock()  # held while this process migrates a database (init_db)
_engines: dict[str, Engine] = {}
_migrated: set[str] = set()
_sessionmakers: dict[str, sessionmaker[Session]] = {}  # one per engine (same key), made once it is migrated
_optuna_storages: dict[str, RDBStorage] = {}


def _configure_sqlite(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    # WAL: readers (the pages) never block the writer (the worker) and vice versa.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")  # safe with WAL; a power cut loses at most the last commit
    cursor.close()


def get_engine(url: str | None = None) -> Engine:
    url = url or database_url()
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            if url.startswith("sqlite"):
                engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False})
                event.listen(engine, "connect", _configure_sqlite)
            else:
                engine = create_engine(url, pool_pre_ping=True)
            _engines[url] = engine
    return engine


def init_db(url: str | None = None) -> Engine:
    """Create or upgrade the schema (once per process and URL) and return the engine."""
    url = url or database_url()
    engine = get_engine(url)
    if url not in _migrated:
        from alembic import command

        # One thread migrates, the others wait for it: two script runs of the app (a page opened, then a link
        # clicked before the first run had finished migrating a fresh database) both created alembic_version.
        with _migrate_lock:
            if url not in _migrated:
                with engine.begin() as connection:
                    # Processes starting together (an app, workers, the API) take turns too: two creating the
                    # same tables at once fail ("table datasets already exists"). Both locks last until the commit.
                    if connection.dialect.name == "postgresql":
                        connection.exec_driver_sql("SELECT pg_advisory_xact_lock(%d, %d)" % MIGRATION_LOCK)
                    elif connection.dialect.name == "sqlite":
                        # Python's sqlite3 runs CREATE TABLE outside any transaction unless one was begun, so
                        # SQLite's write lock alone did not serialise migrations: four processes on a fresh file
                        # failed so in 5 tries of 5. An explicit write transaction makes the DDL one unit and makes
                        # the others wait (the busy timeout) and then find the schema already at head.
                        connection.exec_driver_sql("BEGIN IMMEDIATE")
                    command.upgrade(alembic_config(connection), "head")
                _migrated.add(url)
    return engine


def alembic_config(connection: Connection) -> Config:
    """Alembic's settings for running this project's migrations on an open connection (inside its transaction)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    url = connection.engine.url.render_as_string(hide_password=False)
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))  # % is interpolation in Alembic's options
    config.attributes["connection"] = connection
    return config


def session_factory(url: str | None = None) -> sessionmaker[Session]:
    """`with session_factory().begin() as s:` — the caller owns the session's lifecycle.

    The same sessionmaker every time for one URL (until reset_engines), built once its engine is migrated.
    """
    url = url or database_url()
    factory = _sessionmakers.get(url)
    if factory is None:
        engine = init_db(url)
        with _lock:
            factory = _sessionmakers.get(url)
            if factory is None:
                factory = sessionmaker(engine, expire_on_commit=False)
                if _engines.get(url) is engine:  # unless reset_engines forgot the engine meanwhile
                    _sessionmakers[url] = factory
    return factory


def optuna_storage(url: str | None = None) -> RDBStorage:
    """Optuna's storage for settings searches (core.search), in the app's own database.

    Our migration 0010 made optuna's tables, so optuna neither creates them nor checks its Alembic revision: it
    would read ours from the shared `alembic_version` table and refuse it (or, on an empty database, stamp its own
    and break ours). On SQLite each optuna transaction starts with BEGIN IMMEDIATE: optuna reads before it writes
    inside one transaction, and under WAL such a transaction fails at once ("database is locked") when another
    process wrote in between, where one that takes the write lock first just waits its turn (busy timeout).
    """
    import optuna

    url = url or database_url()
    storage = _optuna_storages.get(url)
    if storage is not None:
        return storage
    init_db(url)
    sqlite = url.startswith("sqlite")
    engine_kwargs = ({"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False}} if sqlite
                     else {"pool_pre_ping": True})
    storage = optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs, skip_compatibility_check=True,
                                         skip_table_creation=True)
    if sqlite:
        event.listen(storage.engine, "connect", _configure_sqlite_for_optuna)
        event.listen(storage.engine, "begin", lambda connection: connection.exec_driver_sql("BEGIN IMMEDIATE"))
        storage.engine.dispose()  # connections opened before the listeners: reopened with them
    with _lock:
        return _optuna_storages.setdefault(url, storage)


def _configure_sqlite_for_optuna(dbapi_connection, record) -> None:
    _configure_sqlite(dbapi_connection, record)
    dbapi_connection.isolation_level = None  # SQLAlchemy's "begin" event issues BEGIN IMMEDIATE instead


def reset_engines() -> None:
    """Forget cached engines and their sessionmakers (tests switch TUNEBOARD_HOME between cases)."""
    with _lock:
        for storage in _optuna_storages.values():
            storage.engine.dispose()
        _optuna_storages.clear()
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
        _migrated.clear()
        _sessionmakers.clear()
