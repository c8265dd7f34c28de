"""capture: evidence files of rendered captures (WARC, rendered HTML)

Revision ID: 0801
Revises: 0800
Create Date: 2026-12-01 06:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import openhotline.db

revision: str = "0801"
down_revision: str | Sequence[str] | None = "0800"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "capture_artifacts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("storage_key", sa.String(length=128), nullable=False),
        sa.Column("created_at", openhotline.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("capture_artifacts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_capture_artifacts_case_id"), ["case_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("capture_artifacts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_capture_artifacts_case_id"))
    op.drop_table("capture_artifacts")
