"""victim identification: series, items, suggestions, matches, alerts, police packages

Revision ID: 1000
Revises: 0920
Create Date: 2026-12-01 08:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import openhotline.db

revision: str = "1000"
down_revision: str | Sequence[str] | None = "0920"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = openhotline.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "vid_series",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("victim_status", sa.String(length=20), nullable=False),
        sa.Column("police_reference", sa.String(length=100), nullable=False),
        sa.Column("new_material_since", UTC, nullable=True),
        sa.Column("age_band", sa.String(length=20), nullable=False),
        sa.Column("sex", sa.String(length=20), nullable=False),
        sa.Column("notes_enc", sa.LargeBinary(), nullable=True),
        sa.Column("clues_enc", sa.LargeBinary(), nullable=True),
        sa.Column("origin", sa.String(length=200), nullable=False),
        sa.Column("known_bank_id", sa.Integer(), nullable=True),
        sa.Column("merged_into_id", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(["known_bank_id"], ["hash_banks.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("reference"),
    )
    with op.batch_alter_table("vid_series", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_vid_series_victim_status"), ["victim_status"], unique=False
        )

    op.create_table(
        "vid_series_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("series_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("how", sa.String(length=200), nullable=False),
        sa.Column("added_by", sa.String(length=100), nullable=False),
        sa.Column("added_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["items.id"]),
        sa.ForeignKeyConstraint(["series_id"], ["vid_series.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("series_id", "item_id", name="uq_vid_series_items"),
    )
    with op.batch_alter_table("vid_series_items", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_vid_series_items_item_id"), ["item_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_vid_series_items_series_id"), ["series_id"], unique=False
        )

    op.create_table(
        "vid_suggestions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("series_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("signal", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("decided_by", sa.String(length=100), nullable=False),
        sa.Column("decided_at", UTC, nullable=True),
        sa.ForeignKeyConstraint(["item_id"], ["items.id"]),
        sa.ForeignKeyConstraint(["series_id"], ["vid_series.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("series_id", "item_id", name="uq_vid_suggestions"),
    )
    with op.batch_alter_table("vid_suggestions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_vid_suggestions_item_id"), ["item_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_vid_suggestions_series_id"), ["series_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_vid_suggestions_state"), ["state"], unique=False)

    op.create_table(
        "vid_matches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("series_id", sa.Integer(), nullable=False),
        sa.Column("via", sa.String(length=200), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["items.id"]),
        sa.ForeignKeyConstraint(["series_id"], ["vid_series.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("item_id", "series_id", name="uq_vid_matches"),
    )
    with op.batch_alter_table("vid_matches", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_vid_matches_item_id"), ["item_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_vid_matches_series_id"), ["series_id"], unique=False)

    op.create_table(
        "vid_alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("series_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("package_id", sa.Integer(), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=100), nullable=False),
        sa.Column("acknowledged_at", UTC, nullable=True),
        sa.ForeignKeyConstraint(["item_id"], ["items.id"]),
        sa.ForeignKeyConstraint(["series_id"], ["vid_series.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("vid_alerts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_vid_alerts_acknowledged_at"), ["acknowledged_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_vid_alerts_series_id"), ["series_id"], unique=False)

    op.create_table(
        "vid_packages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("export_id", sa.String(length=36), nullable=False),
        sa.Column("series_id", sa.Integer(), nullable=False),
        sa.Column("destination", sa.String(length=100), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("fetched_at", UTC, nullable=True),
        sa.ForeignKeyConstraint(["series_id"], ["vid_series.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("export_id"),
    )
    with op.batch_alter_table("vid_packages", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_vid_packages_destination"), ["destination"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_vid_packages_series_id"), ["series_id"], unique=False)

    op.create_table(
        "vid_scan_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("last_item_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    for table in (
        "vid_scan_state",
        "vid_packages",
        "vid_alerts",
        "vid_matches",
        "vid_suggestions",
        "vid_series_items",
        "vid_series",
    ):
        op.drop_table(table)
