"""Tables of the helpline's service directory, the resources a contact was referred to, and
the marks of synthetic (demo) contacts.

A resource is a service a counsellor can refer a caller to (a counselling service, a
shelter, a legal advice line), described by an issue category of the taxonomy, the region it
serves (none = the whole country) and the ages it serves. Resources are retired, never
deleted, so that trend counts keep their column. A contact's resource links are coded
facts: they survive anonymisation and are counted in the trend tables.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from openhotline.db import Base, UTCDateTime, utcnow
from openhotline.helpline import models as _helpline_models  # noqa: F401  (contacts FK)


class HelplineResource(Base):
    """One service in the referral directory."""

    __tablename__ = "helpline_resources"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(60), unique=True)  # stable; trend column
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(60), index=True)  # a taxonomy category
    region: Mapped[str | None] = mapped_column(String(60), index=True)  # None: nationwide
    age_min: Mapped[int | None] = mapped_column(Integer)  # None: no lower limit
    age_max: Mapped[int | None] = mapped_column(Integer)  # None: no upper limit
    reach: Mapped[str] = mapped_column(String(300), default="")  # phone, address or web page
    description: Mapped[str] = mapped_column(String(1000), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ContactResource(Base):
    """A resource a contact was referred to (a contact may have several)."""

    __tablename__ = "helpline_contact_resources"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("helpline_contacts.id"), index=True)
    resource_id: Mapped[int] = mapped_column(ForeignKey("helpline_resources.id"), index=True)

    __table_args__ = (
        UniqueConstraint("contact_id", "resource_id", name="uq_helpline_contact_resources"),
    )


class DemoContact(Base):
    """Marks a synthetic contact written by `openhotline helpline demo` (removable)."""

    __tablename__ = "helpline_demo_contacts"

    contact_id: Mapped[int] = mapped_column(ForeignKey("helpline_contacts.id"), primary_key=True)
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
