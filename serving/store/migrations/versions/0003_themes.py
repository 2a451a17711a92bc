"""The theme registry: themes, theme runs, per-month theme summaries and message assignments.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "themes",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("label", sa.Text(), nullable=False),
        sa.Column("first_month", sa.String(length=7), nullable=False),
        sa.Column("last_month", sa.String(length=7), nullable=False),
        sa.Column("merged_into", sa.String(length=32), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(["merged_into"], ["themes.id"], name=op.f("fk_themes_merged_into_themes")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_themes")),
    )
    op.create_table(
        "theme_runs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("mlflow_run_id", sa.String(length=64), nullable=True),
        sa.Column("params", JSON_DOCUMENT, nullable=False),
        sa.Column("metrics", JSON_DOCUMENT, nullable=False),
        sa.Column("n_messages", sa.Integer(), nullable=False),
        sa.Column("n_excluded", sa.Integer(), nullable=False),
        sa.Column("outlier_share", sa.Float(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_theme_runs")),
    )
    op.create_index(op.f("ix_theme_runs_month_created_at"), "theme_runs", ["month", "created_at"])
    op.create_table(
        "theme_months",
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("theme_id", sa.String(length=32), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("label", sa.Text(), nullable=False),
        sa.Column("keywords", JSON_DOCUMENT, nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("share", sa.Float(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("change_previous", sa.Float(), nullable=True),
        sa.Column("change_baseline", sa.Float(), nullable=True),
        sa.Column("similarity", sa.Float(), nullable=True),
        sa.Column("centroid", sa.LargeBinary(), nullable=False),
        sa.Column("mix", JSON_DOCUMENT, nullable=False),
        sa.Column("quotes", JSON_DOCUMENT, nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["theme_runs.id"], name=op.f("fk_theme_months_run_id_theme_runs"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["theme_id"], ["themes.id"], name=op.f("fk_theme_months_theme_id_themes")),
        sa.PrimaryKeyConstraint("run_id", "theme_id", name=op.f("pk_theme_months")),
    )
    op.create_index(op.f("ix_theme_months_theme_id_month"), "theme_months", ["theme_id", "month"])
    op.create_table(
        "theme_assignments",
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("message_id", sa.String(), nullable=False),
        sa.Column("theme_id", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"], ["theme_runs.id"], name=op.f("fk_theme_assignments_run_id_theme_runs"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name=op.f("fk_theme_assignments_message_id_messages"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["theme_id"], ["themes.id"], name=op.f("fk_theme_assignments_theme_id_themes")),
        sa.PrimaryKeyConstraint("run_id", "message_id", name=op.f("pk_theme_assignments")),
    )


def downgrade() -> None:
    op.drop_table("theme_assignments")
    op.drop_index(op.f("ix_theme_months_theme_id_month"), table_name="theme_months")
    op.drop_table("theme_months")
    op.drop_index(op.f("ix_theme_runs_month_created_at"), table_name="theme_runs")
    op.drop_table("theme_runs")
    op.drop_table("themes")
