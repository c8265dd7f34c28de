"""bank subscriptions: a bank fed by another instance's signed hash list

Revision ID: 0960
Revises: 0804
Create Date: 2026-12-01 08:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from openhotline.db import UTCDateTime

revision: str = "0960"
down_revision: str | Sequence[str] | None = "0804"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "bank_subscriptions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "bank_id",
            sa.Integer(),
            sa.ForeignKey("hash_banks.id", ondelete="CASCADE"),
            nullable=False,
            unique=True,
        ),
        sa.Column("list_url", sa.String(500), nullable=False),
        sa.Column("api_key_file", sa.String(500), nullable=False),
        sa.Column("verify_key", sa.Text(), nullable=False),
        sa.Column("interval_minutes", sa.Integer(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_attempt_at", UTCDateTime(), nullable=True),
        sa.Column("last_success_at", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False, server_default=""),
    )


def downgrade() -> None:
    op.drop_table("bank_subscriptions")
