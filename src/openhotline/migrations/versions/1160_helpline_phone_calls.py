"""helpline phone calls: provider call reference, call status and length

Revision ID: 1160
Revises: 0910
Create Date: 2026-12-02 01:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "1160"
down_revision: str | Sequence[str] | None = "0910"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("helpline_conversations") as batch:
        batch.add_column(sa.Column("provider_ref", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("call_status", sa.String(length=20), nullable=True))
        batch.add_column(sa.Column("call_seconds", sa.Integer(), nullable=True))
        batch.create_unique_constraint("uq_helpline_conversations_provider_ref", ["provider_ref"])


def downgrade() -> None:
    with op.batch_alter_table("helpline_conversations") as batch:
        batch.drop_constraint("uq_helpline_conversations_provider_ref", type_="unique")
        batch.drop_column("call_seconds")
        batch.drop_column("call_status")
        batch.drop_column("provider_ref")
