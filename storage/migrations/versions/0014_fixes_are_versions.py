"""A label review's fixes are stored as the dataset's next version (core/datasets/fixes.py), so datasets.derived_from
(0012) goes: its value moves to datasets.parent_id, where every version names the one it was made from, and the
counts in `changes` take the versions' names ("relabelled" -> "relabeled").

A fixed copy stored before this stays version 1 of a lineage of its own: its examples.csv carries no row ids, so its
rows cannot be matched with its parent's by identity (continuing a run across the two would compare the wrong rows).
The Data page still says which dataset it was made from and what changed.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 13:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

datasets = sa.table("datasets", sa.column("id", sa.Integer), sa.column("derived_from", sa.Integer),
                    sa.column("parent_id", sa.Integer), sa.column("changes", sa.JSON))


def upgrade() -> None:
    bind = op.get_bind()
    fixed = bind.execute(sa.select(datasets.c.id, datasets.c.derived_from, datasets.c.changes)
                         .where(datasets.c.derived_from.is_not(None))).all()
    for row_id, parent, changes in fixed:
        changes = dict(changes or {})
        if "relabelled" in changes:
            changes["relabeled"] = changes.pop("relabelled")
        bind.execute(sa.update(datasets).where(datasets.c.id == row_id).values(parent_id=parent, changes=changes))
    # A plain DROP COLUMN, as 0012's downgrade: a table copy (batch mode) on SQLite would cascade into the runs.
    op.drop_column("datasets", "derived_from")


def downgrade() -> None:
    # Versions made from a review after the upgrade cannot be told from others: none gets derived_from back.
    op.add_column("datasets", sa.Column("derived_from", sa.Integer(), nullable=True))
