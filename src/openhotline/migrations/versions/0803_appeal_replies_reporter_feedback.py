"""appeal replies, reporter feedback

Revision ID: 0803
Revises: 0302
Create Date: 2026-12-01 06:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import openhotline.db

revision: str = "0803"
down_revision: str | Sequence[str] | None = "0302"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("list_appeals") as batch:
        batch.add_column(
            sa.Column("replied_at", openhotline.db.UTCDateTime(timezone=True), nullable=True)
        )
    with op.batch_alter_table("reports") as batch:
        batch.add_column(
            sa.Column("feedback_sent_at", openhotline.db.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("reports") as batch:
        batch.drop_column("feedback_sent_at")
    with op.batch_alter_table("list_appeals") as batch:
        batch.drop_column("replied_at")
