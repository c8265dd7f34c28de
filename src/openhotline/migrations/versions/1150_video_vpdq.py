"""video end to end: item vPDQ frames, vpdq bank entries' frames, per-bank shares, frame reveals

Revision ID: 1150
Revises: 1160
Create Date: 2026-12-02 01:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import openhotline.db

revision: str = "1150"
down_revision: str | Sequence[str] | None = "1160"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "item_videos",
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("frame_count", sa.Integer(), nullable=False),
        sa.Column("duration", sa.Float(), nullable=False),
        sa.Column("frames", sa.Text(), nullable=False),
        sa.Column("created_at", openhotline.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["items.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("item_id"),
    )
    with op.batch_alter_table("item_videos", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_item_videos_state"), ["state"], unique=False)

    op.create_table(
        "bank_video_frames",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("bank_id", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("hash_value", sa.String(length=64), nullable=False),
        sa.Column("quality", sa.Integer(), nullable=False),
        sa.Column("frame_number", sa.Integer(), nullable=False),
        sa.Column("timestamp", sa.Float(), nullable=False),
        sa.Column("removed_at", openhotline.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["bank_id"], ["hash_banks.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["entry_id"], ["bank_entries.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("bank_video_frames", schema=None) as batch_op:
        batch_op.create_index(
            "ix_bank_video_frames_bank_removed", ["bank_id", "removed_at"], unique=False
        )
        batch_op.create_index("ix_bank_video_frames_entry", ["entry_id", "position"], unique=False)

    with op.batch_alter_table("hash_banks", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("vpdq_frame_share", sa.Float(), server_default="0.8", nullable=False)
        )
        batch_op.add_column(
            sa.Column("vpdq_target_share", sa.Float(), server_default="0.0", nullable=False)
        )
    with op.batch_alter_table("reveals", schema=None) as batch_op:
        batch_op.add_column(sa.Column("frame", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("reveals", schema=None) as batch_op:
        batch_op.drop_column("frame")
    with op.batch_alter_table("hash_banks", schema=None) as batch_op:
        batch_op.drop_column("vpdq_target_share")
        batch_op.drop_column("vpdq_frame_share")
    with op.batch_alter_table("bank_video_frames", schema=None) as batch_op:
        batch_op.drop_index("ix_bank_video_frames_entry")
        batch_op.drop_index("ix_bank_video_frames_bank_removed")
    op.drop_table("bank_video_frames")
    with op.batch_alter_table("item_videos", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_item_videos_state"))
    op.drop_table("item_videos")
