"""datasets.display_names: the names people read for a dataset's classes (raw label -> display name; a label not
in it is shown as it is)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 09:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN, as in 0002. Datasets stored before show their raw labels until names are given on the
    # Data page (which suggests them).
    op.add_column("datasets", sa.Column("display_names", sa.JSON(), nullable=False, server_default=sa.text("'{}'")))


def downgrade() -> None:
    op.drop_column("datasets", "display_names")
