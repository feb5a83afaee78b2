"""Datasets made from another by fixing it (issue 23): the dataset it came from and what was changed

- datasets.derived_from: the id of the dataset whose fixed copy this is (no foreign key: the parent may be deleted
  later and the copy keeps the number it was made from);
- datasets.changes: what was changed, {"relabelled": n, "dropped": n, "dropped_from_test": n, "rows": [...]}.

Runs of the parent stay attached to the parent, so they stay as they were.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("datasets", sa.Column("derived_from", sa.Integer(), nullable=True))
    op.add_column("datasets", sa.Column("changes", sa.JSON(), nullable=False, server_default=sa.text("'{}'")))


def downgrade() -> None:
    # Plain DROP COLUMNs, as 0005's: a table copy (batch mode) on SQLite would cascade into the runs.
    op.drop_column("datasets", "changes")
    op.drop_column("datasets", "derived_from")
