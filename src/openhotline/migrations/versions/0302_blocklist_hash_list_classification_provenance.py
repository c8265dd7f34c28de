"""blocklist: list entries carry classification and provenance

Revision ID: 0302
Revises: 0301
Create Date: 2026-12-01 06:55:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0302"
down_revision: str | Sequence[str] | None = "0301"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("list_entries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("classification", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("provenance", sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("list_entries", schema=None) as batch_op:
        batch_op.drop_column("provenance")
        batch_op.drop_column("classification")
