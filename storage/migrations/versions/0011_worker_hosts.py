"""Workers on several machines

- workers.device, workers.data_home, workers.current_runs: what each worker trains on (CPU or its GPUs), the data
  folder it was started with, and the runs it trains now, so the app can show workers on other hosts;
- runs.auto_resume: the per-run "resume automatically" setting: an interrupted run is resumed by any worker;
- data_folders: the one data folder this database belongs to (its id is also written into that folder), so a
  worker started with another folder refuses to start instead of training runs whose files it cannot see.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 09:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMNs, as in 0002 and 0005 (a table copy on SQLite would go through the foreign keys).
    op.add_column("workers", sa.Column("device", sa.String(length=100), nullable=False, server_default=sa.text("''")))
    op.add_column("workers", sa.Column("data_home", sa.String(length=500), nullable=False,
                                       server_default=sa.text("''")))
    op.add_column("workers", sa.Column("current_runs", sa.JSON(), nullable=False, server_default=sa.text("'[]'")))
    op.add_column("runs", sa.Column("auto_resume", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_table(
        "data_folders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("folder_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("data_folders")
    op.drop_column("runs", "auto_resume")
    for column in ("current_runs", "data_home", "device"):
        op.drop_column("workers", column)
