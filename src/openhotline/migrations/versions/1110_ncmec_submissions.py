"""ncmec submissions: police channels delivered through NCMEC's CyberTipline API

Revision ID: 1110
Revises: 1150
Create Date: 2026-12-02 01:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from openhotline.db import UTCDateTime

revision: str = "1110"
down_revision: str | Sequence[str] | None = "1150"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("police_channels") as batch:
        batch.add_column(
            sa.Column("delivery", sa.String(20), nullable=False, server_default="package")
        )
    op.create_table(
        "ncmec_submissions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "referral_id", sa.Integer(), sa.ForeignKey("referrals.id"), nullable=False, unique=True
        ),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("ncmec_report_id", sa.Integer(), nullable=True),
        sa.Column("files", sa.JSON(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_ncmec_submissions_state", "ncmec_submissions", ["state"])


def downgrade() -> None:
    op.drop_index("ix_ncmec_submissions_state", table_name="ncmec_submissions")
    op.drop_table("ncmec_submissions")
    with op.batch_alter_table("police_channels") as batch:
        batch.drop_column("delivery")
