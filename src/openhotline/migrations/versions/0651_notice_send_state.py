"""notice send state (at-most-once notice e-mails)

Revision ID: 0651
Revises: 0650
Create Date: 2026-12-01 06:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0651"
down_revision: str | Sequence[str] | None = "0650"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("notice_sends", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("state", sa.String(length=20), server_default="sent", nullable=False)
        )
        batch_op.add_column(sa.Column("error", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("notice_sends", schema=None) as batch_op:
        batch_op.drop_column("error")
        batch_op.drop_column("state")
