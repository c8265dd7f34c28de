"""intake idempotency keys

Revision ID: 0650
Revises: 0601
Create Date: 2026-12-01 06:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import openhotline.db

revision: str = "0650"
down_revision: str | Sequence[str] | None = "0601"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "intake_idempotency_keys",
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("body_hash", sa.String(length=64), nullable=False),
        sa.Column("response", sa.Text(), nullable=False),
        sa.Column("created_at", openhotline.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", openhotline.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key_hash"),
    )
    with op.batch_alter_table("intake_idempotency_keys", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_intake_idempotency_keys_expires_at"), ["expires_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("intake_idempotency_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_intake_idempotency_keys_expires_at"))
    op.drop_table("intake_idempotency_keys")
