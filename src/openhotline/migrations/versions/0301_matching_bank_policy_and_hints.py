"""matching: per-bank policy, source, owner, classification map, last sync; bank hints

Revision ID: 0301
Revises: 0802
Create Date: 2026-12-01 06:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import openhotline.db

revision: str = "0301"
down_revision: str | Sequence[str] | None = "0802"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("hash_banks", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "policy", sa.String(length=20), nullable=False, server_default="review_with_hint"
            )
        )
        batch_op.add_column(
            sa.Column("source", sa.String(length=20), nullable=False, server_default="imported")
        )
        batch_op.add_column(
            sa.Column("classification_map", sa.Text(), nullable=False, server_default="{}")
        )
        batch_op.add_column(
            sa.Column("last_synced_at", openhotline.db.UTCDateTime(timezone=True), nullable=True)
        )
    with op.batch_alter_table("hash_banks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner_org_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            "fk_hash_banks_owner_org_id_partner_orgs",
            "partner_orgs",
            ["owner_org_id"],
            ["id"],
            ondelete="SET NULL",
        )
    # The own confirmed bank kept auto-assessing before policies existed; it still does.
    op.execute(
        "UPDATE hash_banks SET policy = 'auto_assess', source = 'own' WHERE name = 'confirmed'"
    )
    op.create_table(
        "bank_hints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("bank_id", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("policy", sa.String(length=20), nullable=False),
        sa.Column("hash_type", sa.String(length=10), nullable=False),
        sa.Column("distance", sa.Integer(), nullable=False),
        sa.Column("classification", sa.String(length=100), nullable=False),
        sa.Column("local_classification", sa.String(length=100), nullable=False),
        sa.Column("created_at", openhotline.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["bank_id"], ["hash_banks.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["item_id"], ["items.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("bank_hints", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_bank_hints_item_id"), ["item_id"], unique=False)
        batch_op.create_index("uq_bank_hints_item_entry", ["item_id", "entry_id"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("bank_hints", schema=None) as batch_op:
        batch_op.drop_index("uq_bank_hints_item_entry")
        batch_op.drop_index(batch_op.f("ix_bank_hints_item_id"))
    op.drop_table("bank_hints")
    with op.batch_alter_table("hash_banks", schema=None) as batch_op:
        batch_op.drop_constraint("fk_hash_banks_owner_org_id_partner_orgs", type_="foreignkey")
        batch_op.drop_column("owner_org_id")
        batch_op.drop_column("last_synced_at")
        batch_op.drop_column("classification_map")
        batch_op.drop_column("source")
        batch_op.drop_column("policy")
