"""reporter language: the language a reporter or appellant used, for their one e-mail

Revision ID: 1100
Revises: 1110
Create Date: 2026-12-02 01:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "1100"
down_revision: str | Sequence[str] | None = "1110"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("reports") as batch:
        batch.add_column(sa.Column("language", sa.String(length=8), nullable=True))
    with op.batch_alter_table("list_appeals") as batch:
        batch.add_column(sa.Column("language", sa.String(length=8), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("list_appeals") as batch:
        batch.drop_column("language")
    with op.batch_alter_table("reports") as batch:
        batch.drop_column("language")
