"""Feedback, opted-in inputs and champion/challenger endpoints for the prediction API

- api_predictions: each answer's place in its request (answer_index), the true label sent back to POST /v1/feedback
  (true_label, feedback_at), the input text when the key opts in (input_text), and, for answers given through a
  named endpoint, the endpoint, the run's role there and whether the answer was only a shadow (not returned);
- api_keys.log_inputs: the per-key opt-in to keep input texts (off);
- endpoints: a name that serves a champion run, with an optional challenger given a share of traffic or a shadow.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMNs, as in 0002 and 0005 (a table copy on SQLite would go through the foreign keys).
    op.add_column("api_predictions", sa.Column("answer_index", sa.Integer(), nullable=False,
                                               server_default=sa.text("0")))
    # Answers logged before this revision: their place in the request is their order among its rows.
    op.execute("UPDATE api_predictions SET answer_index = (SELECT count(*) FROM api_predictions AS earlier WHERE "
               "earlier.request_id = api_predictions.request_id AND earlier.id < api_predictions.id)")
    op.add_column("api_predictions", sa.Column("true_label", sa.String(length=200), nullable=True))
    op.add_column("api_predictions", sa.Column("feedback_at", sa.DateTime(), nullable=True))
    op.add_column("api_predictions", sa.Column("input_text", sa.Text(), nullable=True))
    op.add_column("api_predictions", sa.Column("endpoint", sa.String(length=64), nullable=True))
    op.add_column("api_predictions", sa.Column("role", sa.String(length=20), nullable=True))
    op.add_column("api_predictions", sa.Column("shadow", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_index("ix_api_predictions_request", "api_predictions", ["request_id", "answer_index"])
    op.create_index("ix_api_predictions_endpoint", "api_predictions", ["endpoint"])
    op.add_column("api_keys", sa.Column("log_inputs", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_table(
        "endpoints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("champion_run_id", sa.Integer(), nullable=True),
        sa.Column("challenger_run_id", sa.Integer(), nullable=True),
        sa.Column("mode", sa.String(length=10), nullable=False),
        sa.Column("challenger_share", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("promoted_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["champion_run_id"], ["runs.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["challenger_run_id"], ["runs.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name", name="uq_endpoints_name"),
    )


def downgrade() -> None:
    op.drop_table("endpoints")
    op.drop_column("api_keys", "log_inputs")
    op.drop_index("ix_api_predictions_endpoint", table_name="api_predictions")
    op.drop_index("ix_api_predictions_request", table_name="api_predictions")
    for column in ("shadow", "role", "endpoint", "input_text", "feedback_at", "true_label", "answer_index"):
        op.drop_column("api_predictions", column)
