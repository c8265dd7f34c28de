"""bank local features: own items' ORB keypoints and per-bank feature settings

Revision ID: 1140
Revises: 1100
Create Date: 2026-12-02 01:05:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from openhotline.db import UTCDateTime

revision: str = "1140"
down_revision: str | Sequence[str] | None = "1100"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("hash_banks") as batch:
        batch.add_column(
            sa.Column("features_enabled", sa.Boolean(), nullable=False, server_default=sa.true())
        )
        batch.add_column(
            sa.Column("features_min_inliers", sa.Integer(), nullable=False, server_default="20")
        )
        batch.add_column(
            sa.Column("features_radius", sa.Integer(), nullable=False, server_default="28")
        )
    op.create_table(
        "bank_features",
        sa.Column("id", _ID, primary_key=True),
        sa.Column(
            "bank_id",
            sa.Integer(),
            sa.ForeignKey("hash_banks.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("entry_id", _ID, nullable=False),
        sa.Column("item_sha256", sa.String(64), nullable=False),
        sa.Column("keypoints", sa.Integer(), nullable=False),
        sa.Column("features", sa.LargeBinary(), nullable=False),
        sa.Column("added_by", sa.String(100), nullable=False),
        sa.Column("added_at", UTCDateTime(), nullable=False),
        sa.Column("removed_at", UTCDateTime(), nullable=True),
        sa.Column("removed_by", sa.String(100), nullable=False),
    )
    op.create_index(
        "uq_bank_features_live",
        "bank_features",
        ["bank_id", "item_sha256"],
        unique=True,
        sqlite_where=sa.text("removed_at IS NULL"),
        postgresql_where=sa.text("removed_at IS NULL"),
    )
    op.create_index("ix_bank_features_bank_removed", "bank_features", ["bank_id", "removed_at"])


def downgrade() -> None:
    op.drop_index("ix_bank_features_bank_removed", table_name="bank_features")
    op.drop_index("uq_bank_features_live", table_name="bank_features")
    op.drop_table("bank_features")
    with op.batch_alter_table("hash_banks") as batch:
        batch.drop_column("features_radius")
        batch.drop_column("features_min_inliers")
        batch.drop_column("features_enabled")
