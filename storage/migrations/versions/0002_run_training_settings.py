"""runs.training: the settings a run resolved to and how far it trained

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 22:05:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN (SQLite and PostgreSQL both have it), never a table copy: on SQLite, recreating `runs`
    # with foreign keys on would cascade-delete every run's predictions and curve points.
    # server_default: rows of an existing database get an empty object, so older runs keep loading.
    op.add_column("runs", sa.Column("training", sa.JSON(), nullable=False, server_default=sa.text("'{}'")))


def downgrade() -> None:
    # A plain DROP COLUMN (SQLite 3.35+ and PostgreSQL), for the same reason: batch mode would copy the table.
    op.drop_column("runs", "training")
