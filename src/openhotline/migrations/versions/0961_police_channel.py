"""police channel: police partners' channels and the decisions on their referrals

Revision ID: 0961
Revises: 0960
Create Date: 2026-12-01 08:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from openhotline.db import UTCDateTime

revision: str = "0961"
down_revision: str | Sequence[str] | None = "0960"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "police_channels",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "org_id", sa.Integer(), sa.ForeignKey("partner_orgs.id"), nullable=False, unique=True
        ),
        sa.Column("destination", sa.String(200), nullable=False, unique=True),
        sa.Column("ack_hours", sa.Integer(), nullable=False),
        sa.Column("decide_hours", sa.Integer(), nullable=False),
        sa.Column("auto_release_hours", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    with op.batch_alter_table("referrals") as batch:
        batch.add_column(sa.Column("acknowledged_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("decision", sa.String(20), nullable=False, server_default=""))
        batch.add_column(sa.Column("decided_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("decided_by", sa.String(200), nullable=True))
        batch.add_column(sa.Column("hold_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("referrals") as batch:
        for name in ("hold_reason", "decided_by", "decided_at", "decision", "acknowledged_at"):
            batch.drop_column(name)
    op.drop_table("police_channels")
