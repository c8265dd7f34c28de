"""Tables of the helpline: contacts, their issue categories, and safeguarding escalations.

A contact keeps its coded fields (mode, channel, type, categories, age band, gender, region,
outcome, referrals) for trend counts forever; its details (encrypted notes, encrypted
identifying details, the counsellor, the exact time) are removed by anonymisation after the
retention period (helpline/tasks.py).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from openhotline.db import Base, EnumString, UTCDateTime, utcnow
from openhotline.reporting import models as _reporting_models  # noqa: F401  (reports.id FK)


class EscalationStatus(StrEnum):
    """Where a safeguarding escalation stands."""

    PENDING = "pending"  # waiting for a supervisor; nothing leaves the helpline
    DISCLOSE = "disclose"  # supervisor decided to share with a named agency
    NO_DISCLOSURE = "no_disclosure"  # supervisor decided nothing is shared


class HelplineContact(Base):
    """One confidential contact with the helpline."""

    __tablename__ = "helpline_contacts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Random reference: binds the encrypted fields to this row (AES-GCM associated data).
    ref: Mapped[str] = mapped_column(String(32), unique=True)
    mode: Mapped[str] = mapped_column(String(20), index=True)  # "child" or "prevention"
    # Exact time until anonymised, then the first instant of its month.
    contact_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    period: Mapped[str] = mapped_column(String(7), index=True)  # "YYYY-MM", kept forever
    channel: Mapped[str] = mapped_column(String(40))
    contact_type: Mapped[str] = mapped_column(String(60))
    age_band: Mapped[str | None] = mapped_column(String(20))
    gender: Mapped[str | None] = mapped_column(String(20))
    region: Mapped[str | None] = mapped_column(String(60))
    outcome: Mapped[str] = mapped_column(String(40))
    referrals: Mapped[str] = mapped_column(String(200), default="")  # comma-separated codes
    immediate_risk: Mapped[bool] = mapped_column(Boolean, default=False)
    # Details: encrypted at rest, removed by anonymisation.
    notes_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    identity_enc: Mapped[bytes | None] = mapped_column(LargeBinary)  # child mode only
    counsellor: Mapped[str | None] = mapped_column(String(64))
    # Warm hand-off: the hotline report made from this contact (its source is "helpline"
    # and its external_id "contact-<ref>", so the report links back here).
    report_id: Mapped[int | None] = mapped_column(ForeignKey("reports.id"))
    handed_off: Mapped[bool] = mapped_column(Boolean, default=False)
    anonymised_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)

    categories: Mapped[list[ContactCategory]] = relationship(
        back_populates="contact", cascade="all, delete-orphan", order_by="ContactCategory.id"
    )
    escalations: Mapped[list[Escalation]] = relationship(
        back_populates="contact", order_by="Escalation.id"
    )

    __table_args__ = (Index("ix_helpline_contacts_counsellor", "counsellor"),)


class ContactCategory(Base):
    """One issue category of a contact (a contact may have several)."""

    __tablename__ = "helpline_contact_categories"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("helpline_contacts.id"), index=True)
    category: Mapped[str] = mapped_column(String(60))

    contact: Mapped[HelplineContact] = relationship(back_populates="categories")


class Escalation(Base):
    """A safeguarding escalation of a contact to a supervisor, and the decision taken."""

    __tablename__ = "helpline_escalations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("helpline_contacts.id"), index=True)
    status: Mapped[EscalationStatus] = mapped_column(
        EnumString(EscalationStatus, 20), default=EscalationStatus.PENDING, index=True
    )
    raised_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=utcnow)
    raised_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by: Mapped[str | None] = mapped_column(String(64))
    disclose_to: Mapped[str | None] = mapped_column(String(40))  # a referral code
    decision_note_enc: Mapped[bytes | None] = mapped_column(LargeBinary)

    contact: Mapped[HelplineContact] = relationship(back_populates="escalations")
