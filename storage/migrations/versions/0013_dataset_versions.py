"""datasets.parent_id / lineage_id / version: dataset versions (core/datasets/versions.py). Every dataset stored
before is version 1 of its own lineage. (datasets.changes, which says what a version changed, came with 0012.)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 09:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMNs, as in 0002: an existing dataset gets version 1, no parent, its own lineage.
    op.add_column("datasets", sa.Column("parent_id", sa.Integer(), nullable=True))
    op.add_column("datasets", sa.Column("lineage_id", sa.Integer(), nullable=True))
    op.add_column("datasets", sa.Column("version", sa.Integer(), nullable=False, server_default=sa.text("1")))
    op.create_index("ix_datasets_lineage_id", "datasets", ["lineage_id"])


def downgrade() -> None:
    op.drop_index("ix_datasets_lineage_id", "datasets")
    for column in ("version", "lineage_id", "parent_id"):
        op.drop_column("datasets", column)
