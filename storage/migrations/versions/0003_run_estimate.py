"""runs.estimate: the time and memory a run was expected to take when it was queued

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 23:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN, as in 0002 (a table copy on SQLite would cascade-delete predictions and curve points).
    op.add_column("runs", sa.Column("estimate", sa.JSON(), nullable=False, server_default=sa.text("'{}'")))


def downgrade() -> None:
    op.drop_column("runs", "estimate")
