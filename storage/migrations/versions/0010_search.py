"""Settings searches (issue 28): the searches table, each run's search and trial, and Optuna's own tables

Optuna's study is stored in this database (optuna.storages.RDBStorage on the same URL, storage.db.optuna_storage).
Optuna keeps its schema with Alembic too, in the same default `alembic_version` table as ours, so it must never
create or stamp its tables itself: this revision makes them, from the pinned optuna's models (schema
`OPTUNA_SCHEMA`), and optuna is opened with table creation and its version check turned off. An optuna with
another schema is refused here, in one sentence, rather than half-migrated.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 09:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

OPTUNA_SCHEMA = "v3.2.0.a"  # optuna's Alembic head for its 5.0 release (requirements.txt pins optuna==5.0.0)


def _optuna_metadata():
    from optuna.storages._rdb import models

    head = _optuna_head()
    if head != OPTUNA_SCHEMA:
        raise RuntimeError(f"This Tuneboard stores Optuna's schema {OPTUNA_SCHEMA}, but the installed optuna needs "
                           f"{head}; install the optuna version in requirements.txt.")
    return models.BaseModel.metadata


def _optuna_head() -> str:
    import os

    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from optuna.storages import _rdb

    config = Config()
    config.set_main_option("script_location", os.path.join(os.path.dirname(_rdb.__file__), "alembic"))
    return ScriptDirectory.from_config(config).get_current_head()


def upgrade() -> None:
    op.create_table(
        "searches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("model", sa.String(length=500), nullable=False),
        sa.Column("method", sa.String(length=50), nullable=False),
        sa.Column("budget_seconds", sa.Float(), nullable=False),
        sa.Column("spent_seconds", sa.Float(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("last_step_at", sa.DateTime(), nullable=True),
        sa.Column("coordinator", sa.String(length=100), nullable=False),
        sa.Column("lease_until", sa.DateTime(), nullable=True),
        sa.Column("stop_requested", sa.Boolean(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("best_run_id", sa.Integer(), nullable=True),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["dataset_id"], ["datasets.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_searches_dataset_id", "searches", ["dataset_id"])
    op.create_index("ix_searches_status", "searches", ["status"])
    # Plain ADD COLUMNs, as in 0002, 0005 and 0008 (a table copy on SQLite would go through the foreign keys).
    op.add_column("runs", sa.Column("search_id", sa.Integer(), nullable=True))
    op.add_column("runs", sa.Column("search_trial", sa.Integer(), nullable=True))
    op.create_index("ix_runs_search_id", "runs", ["search_id"])
    bind = op.get_bind()
    metadata = _optuna_metadata()
    metadata.create_all(bind)
    # Optuna's row saying which of its schemas these tables have (it would write one itself when missing).
    from optuna import version
    from optuna.storages._rdb import models

    bind.execute(sa.insert(models.VersionInfoModel.__table__).values(
        version_info_id=1, schema_version=models.SCHEMA_VERSION, library_version=version.__version__))


def downgrade() -> None:
    from optuna.storages._rdb import models

    models.BaseModel.metadata.drop_all(op.get_bind())
    op.drop_index("ix_runs_search_id", table_name="runs")
    op.drop_column("runs", "search_trial")  # plain DROP COLUMNs, as 0002 and 0003 undo theirs
    op.drop_column("runs", "search_id")
    op.drop_index("ix_searches_status", table_name="searches")
    op.drop_index("ix_searches_dataset_id", table_name="searches")
    op.drop_table("searches")
