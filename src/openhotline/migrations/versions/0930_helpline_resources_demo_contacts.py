"""helpline resources (referral directory), contact resource links, demo contact marks

Revision ID: 0930
Revises: 0950
Create Date: 2026-12-01 08:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import openhotline.db

revision: str = "0930"
down_revision: str | Sequence[str] | None = "0950"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "helpline_resources",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=60), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("category", sa.String(length=60), nullable=False),
        sa.Column("region", sa.String(length=60), nullable=True),
        sa.Column("age_min", sa.Integer(), nullable=True),
        sa.Column("age_max", sa.Integer(), nullable=True),
        sa.Column("reach", sa.String(length=300), nullable=False),
        sa.Column("description", sa.String(length=1000), nullable=False),
        sa.Column("created_at", openhotline.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("retired_at", openhotline.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    op.create_index("ix_helpline_resources_category", "helpline_resources", ["category"])
    op.create_index("ix_helpline_resources_region", "helpline_resources", ["region"])
    op.create_table(
        "helpline_contact_resources",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("resource_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["contact_id"], ["helpline_contacts.id"]),
        sa.ForeignKeyConstraint(["resource_id"], ["helpline_resources.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("contact_id", "resource_id", name="uq_helpline_contact_resources"),
    )
    op.create_index(
        "ix_helpline_contact_resources_contact_id", "helpline_contact_resources", ["contact_id"]
    )
    op.create_index(
        "ix_helpline_contact_resources_resource_id", "helpline_contact_resources", ["resource_id"]
    )
    op.create_table(
        "helpline_demo_contacts",
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("loaded_at", openhotline.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["contact_id"], ["helpline_contacts.id"]),
        sa.PrimaryKeyConstraint("contact_id"),
    )


def downgrade() -> None:
    op.drop_table("helpline_demo_contacts")
    op.drop_index("ix_helpline_contact_resources_resource_id", "helpline_contact_resources")
    op.drop_index("ix_helpline_contact_resources_contact_id", "helpline_contact_resources")
    op.drop_table("helpline_contact_resources")
    op.drop_index("ix_helpline_resources_region", "helpline_resources")
    op.drop_index("ix_helpline_resources_category", "helpline_resources")
    op.drop_table("helpline_resources")
