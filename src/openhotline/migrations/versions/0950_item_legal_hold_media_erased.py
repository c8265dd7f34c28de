"""item legal hold and media erasure time

Revision ID: 0950
Revises: 1000
Create Date: 2026-12-01 08:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import openhotline.db

revision: str = "0950"
down_revision: str | Sequence[str] | None = "1000"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("items") as batch:
        batch.add_column(
            sa.Column("legal_hold", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(
            sa.Column("media_erased_at", openhotline.db.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("items") as batch:
        batch.drop_column("media_erased_at")
        batch.drop_column("legal_hold")
