"""matching: banks fed through a python-threatexchange SignalExchangeAPI

Revision ID: 1171
Revises: 1170
Create Date: 2026-12-02 07:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from openhotline.db import UTCDateTime

revision: str = "1171"
down_revision: str | Sequence[str] | None = "1170"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "bank_exchange_feeds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("bank_id", sa.Integer(), nullable=False),
        sa.Column("api", sa.String(length=200), nullable=False),
        sa.Column("collab", sa.Text(), nullable=False),
        sa.Column("checkpoint", sa.Text(), nullable=False),
        sa.Column("interval_minutes", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_attempt_at", UTCDateTime(), nullable=True),
        sa.Column("last_success_at", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["bank_id"],
            ["hash_banks.id"],
            name=op.f("fk_bank_exchange_feeds_bank_id_hash_banks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bank_exchange_feeds")),
        sa.UniqueConstraint("bank_id", name=op.f("uq_bank_exchange_feeds_bank_id")),
    )


def downgrade() -> None:
    op.drop_table("bank_exchange_feeds")
