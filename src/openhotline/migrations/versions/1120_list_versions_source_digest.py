"""blocklist: list versions remember the digest of the source they were published from

Revision ID: 1120
Revises: 1140
Create Date: 2026-12-02 01:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "1120"
down_revision: str | Sequence[str] | None = "1140"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("list_versions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source_digest", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("list_versions", schema=None) as batch_op:
        batch_op.drop_column("source_digest")
