"""helpline contacts, categories, escalations

Revision ID: 0700
Revises: 0500
Create Date: 2026-11-28 16:14:10.296009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import openhotline.db

revision: str = "0700"
down_revision: str | Sequence[str] | None = "0500"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "helpline_contacts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ref", sa.String(length=32), nullable=False),
        sa.Column("mode", sa.String(length=20), nullable=False),
        sa.Column("contact_at", openhotline.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("channel", sa.String(length=40), nullable=False),
        sa.Column("contact_type", sa.String(length=60), nullable=False),
        sa.Column("age_band", sa.String(length=20), nullable=True),
        sa.Column("gender", sa.String(length=20), nullable=True),
        sa.Column("region", sa.String(length=60), nullable=True),
        sa.Column("outcome", sa.String(length=40), nullable=False),
        sa.Column("referrals", sa.String(length=200), nullable=False),
        sa.Column("immediate_risk", sa.Boolean(), nullable=False),
        sa.Column("notes_enc", sa.LargeBinary(), nullable=True),
        sa.Column("identity_enc", sa.LargeBinary(), nullable=True),
        sa.Column("counsellor", sa.String(length=64), nullable=True),
        sa.Column("report_id", sa.Integer(), nullable=True),
        sa.Column("handed_off", sa.Boolean(), nullable=False),
        sa.Column("anonymised_at", openhotline.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["reports.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("ref"),
    )
    with op.batch_alter_table("helpline_contacts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_helpline_contacts_anonymised_at"), ["anonymised_at"], unique=False
        )
        batch_op.create_index("ix_helpline_contacts_counsellor", ["counsellor"], unique=False)
        batch_op.create_index(batch_op.f("ix_helpline_contacts_mode"), ["mode"], unique=False)
        batch_op.create_index(batch_op.f("ix_helpline_contacts_period"), ["period"], unique=False)

    op.create_table(
        "helpline_contact_categories",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(length=60), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["helpline_contacts.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("helpline_contact_categories", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_helpline_contact_categories_contact_id"), ["contact_id"], unique=False
        )

    op.create_table(
        "helpline_escalations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("raised_at", openhotline.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("raised_by", sa.String(length=64), nullable=True),
        sa.Column("decided_at", openhotline.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("disclose_to", sa.String(length=40), nullable=True),
        sa.Column("decision_note_enc", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["helpline_contacts.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("helpline_escalations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_helpline_escalations_contact_id"), ["contact_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_helpline_escalations_status"), ["status"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("helpline_escalations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_helpline_escalations_status"))
        batch_op.drop_index(batch_op.f("ix_helpline_escalations_contact_id"))

    op.drop_table("helpline_escalations")
    with op.batch_alter_table("helpline_contact_categories", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_helpline_contact_categories_contact_id"))

    op.drop_table("helpline_contact_categories")
    with op.batch_alter_table("helpline_contacts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_helpline_contacts_period"))
        batch_op.drop_index(batch_op.f("ix_helpline_contacts_mode"))
        batch_op.drop_index("ix_helpline_contacts_counsellor")
        batch_op.drop_index(batch_op.f("ix_helpline_contacts_anonymised_at"))

    op.drop_table("helpline_contacts")
