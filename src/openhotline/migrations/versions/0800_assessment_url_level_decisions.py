"""assessment: URL-level decisions and their four-eyes review

Revision ID: 0800
Revises: 0651
Create Date: 2026-12-01 06:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import openhotline.db

revision: str = "0800"
down_revision: str | Sequence[str] | None = "0651"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "url_decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("scheme", sa.String(length=40), nullable=False),
        sa.Column("classification", sa.String(length=40), nullable=False),
        sa.Column("illegal", sa.Boolean(), nullable=False),
        sa.Column("fields", sa.Text(), nullable=False),
        sa.Column("created_at", openhotline.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("url_decisions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_url_decisions_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_url_decisions_user_id"), ["user_id"], unique=False)

    op.create_table(
        "url_reviews",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("classification", sa.String(length=40), nullable=True),
        sa.Column("illegal", sa.Boolean(), nullable=True),
        sa.Column("queued_at", openhotline.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_at", openhotline.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.PrimaryKeyConstraint("case_id"),
    )
    with op.batch_alter_table("url_reviews", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_url_reviews_state"), ["state"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("url_reviews", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_url_reviews_state"))
    op.drop_table("url_reviews")
    with op.batch_alter_table("url_decisions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_url_decisions_user_id"))
        batch_op.drop_index(batch_op.f("ix_url_decisions_case_id"))
    op.drop_table("url_decisions")
