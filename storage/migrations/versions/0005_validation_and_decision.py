"""predictions.split, runs.calibration, runs.min_confidence, datasets.target: validation predictions beside the test
ones, the temperature fitted on them, the operating point below which answers are marked uncertain, and the target
a dataset's runs are judged against

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 06:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMNs, as in 0002 (a table copy on SQLite would cascade-delete predictions and curve points).
    # Every stored prediction so far is a test prediction.
    op.add_column("predictions", sa.Column("split", sa.String(length=10), nullable=False,
                                           server_default=sa.text("'test'")))
    op.create_index("ix_predictions_run_id_split", "predictions", ["run_id", "split"])
    op.add_column("runs", sa.Column("calibration", sa.JSON(), nullable=False, server_default=sa.text("'{}'")))
    op.add_column("runs", sa.Column("min_confidence", sa.Float(), nullable=True))
    op.add_column("datasets", sa.Column("target", sa.JSON(), nullable=False, server_default=sa.text("'{}'")))


def downgrade() -> None:
    op.drop_column("datasets", "target")
    op.drop_column("runs", "min_confidence")
    op.drop_column("runs", "calibration")
    op.drop_index("ix_predictions_run_id_split", table_name="predictions")
    op.drop_column("predictions", "split")
