"""report remove: removal requests (hashes, progress, receipt) and their reveals

Revision ID: 0920
Revises: 0961
Create Date: 2026-12-01 08:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import openhotline.db

revision: str = "0920"
down_revision: str | Sequence[str] | None = "0961"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = openhotline.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "removal_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=20), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("md5", sa.String(length=32), nullable=False),
        sa.Column("sha1", sa.String(length=40), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("pdq", sa.String(length=64), nullable=False),
        sa.Column("pdq_quality", sa.Integer(), nullable=False),
        sa.Column("image_format", sa.String(length=10), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("blob_id", sa.String(length=64), nullable=True),
        sa.Column("image_key", sa.String(length=64), nullable=True),
        sa.Column("image_deleted_at", TS, nullable=True),
        sa.Column("identity_by", sa.String(length=100), nullable=False),
        sa.Column("identity_at", TS, nullable=True),
        sa.Column("identity_method", sa.String(length=20), nullable=False),
        sa.Column("verified_by", sa.String(length=100), nullable=False),
        sa.Column("verified_at", TS, nullable=True),
        sa.Column("classification", sa.String(length=100), nullable=False),
        sa.Column("shared_at", TS, nullable=True),
        sa.Column("closed_reason", sa.String(length=30), nullable=False),
        sa.Column("closed_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("reference"),
    )
    with op.batch_alter_table("removal_requests", schema=None) as batch_op:
        batch_op.create_index("ix_removal_requests_sha256", ["sha256"], unique=False)
        batch_op.create_index(
            "ix_removal_requests_status_created", ["status", "created_at"], unique=False
        )
    op.create_table(
        "removal_reveals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("ends_at", TS, nullable=False),
        sa.Column("closed_at", TS, nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.ForeignKeyConstraint(["request_id"], ["removal_requests.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("removal_reveals", schema=None) as batch_op:
        batch_op.create_index("ix_removal_reveals_request_id", ["request_id"], unique=False)
        batch_op.create_index(
            "ix_removal_reveals_user_started", ["user_id", "started_at"], unique=False
        )


def downgrade() -> None:
    op.drop_table("removal_reveals")
    op.drop_table("removal_requests")
