"""workbench: host directory, the host picked per case, worker heartbeats

Revision ID: 0802
Revises: 0801
Create Date: 2026-12-01 06:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import openhotline.db

revision: str = "0802"
down_revision: str | Sequence[str] | None = "0801"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "host_providers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("asn", sa.Integer(), nullable=True),
        sa.Column("abuse_email", sa.String(length=320), nullable=True),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("language", sa.String(length=10), nullable=False),
        sa.Column("portal_url", sa.Text(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("created_at", openhotline.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", openhotline.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    with op.batch_alter_table("host_providers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_host_providers_asn"), ["asn"], unique=False)

    op.create_table(
        "case_hosts",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("host_id", sa.Integer(), nullable=False),
        sa.Column("picked_at", openhotline.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("picked_by", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.ForeignKeyConstraint(["host_id"], ["host_providers.id"]),
        sa.PrimaryKeyConstraint("case_id"),
    )
    with op.batch_alter_table("case_hosts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_hosts_host_id"), ["host_id"], unique=False)

    op.create_table(
        "worker_heartbeats",
        sa.Column("worker", sa.String(length=200), nullable=False),
        sa.Column("started_at", openhotline.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen", openhotline.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("worker"),
    )
    with op.batch_alter_table("worker_heartbeats", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_worker_heartbeats_last_seen"), ["last_seen"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("worker_heartbeats", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_worker_heartbeats_last_seen"))
    op.drop_table("worker_heartbeats")
    with op.batch_alter_table("case_hosts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_hosts_host_id"))
    op.drop_table("case_hosts")
    with op.batch_alter_table("host_providers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_host_providers_asn"))
    op.drop_table("host_providers")
