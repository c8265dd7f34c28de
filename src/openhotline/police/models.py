"""Tables of the police channel: police partners that receive referrals, and NCMEC submissions."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from openhotline.db import Base, EnumString, UTCDateTime, utcnow


class Delivery(StrEnum):
    """How a channel's referrals reach the police."""

    PACKAGE = "package"  # police fetch the signed package through the police API
    NCMEC = "ncmec"  # submitted to NCMEC's CyberTipline Reporting API by background jobs


class PoliceChannel(Base):
    """A police partner's channel: which referrals it receives, its SLAs, its release rule."""

    __tablename__ = "police_channels"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("partner_orgs.id"), unique=True)
    # The referral destination it receives (settings.police_destination and the like).
    destination: Mapped[str] = mapped_column(String(200), unique=True)
    ack_hours: Mapped[int] = mapped_column(Integer, default=24)  # SLA: acknowledge within
    decide_hours: Mapped[int] = mapped_column(Integer, default=72)  # SLA: clear or hold within
    # Release held notices to the host after this many hours without a decision (None: never).
    auto_release_hours: Mapped[int | None] = mapped_column(Integer)
    delivery: Mapped[Delivery] = mapped_column(
        EnumString(Delivery, 20), default=Delivery.PACKAGE, server_default=Delivery.PACKAGE.value
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class NcmecState(StrEnum):
    """Where a CyberTipline submission stands (police/ncmec.py moves it)."""

    QUEUED = "queued"  # waiting to open the report
    OPENING = "opening"  # POST /submit started; a crash here leaves NCMEC an unfinished report
    UPLOADING = "uploading"  # report open (ncmec_report_id set): files go up one by one
    DESCRIBING = "describing"  # every file up: one fileDetails per file
    FINISHING = "finishing"  # POST /finish
    FINISHED = "finished"  # NCMEC has the report: the referral is sent
    RETRACTING = "retracting"  # a step failed for good: POST /retract
    RETRACTED = "retracted"  # NCMEC dropped the unfinished report; the referral failed
    FAILED = "failed"  # failed before a report was open (or the retract failed too)


DONE_STATES = (NcmecState.FINISHED, NcmecState.RETRACTED, NcmecState.FAILED)


class NcmecSubmission(Base):
    """One referral's submission to the CyberTipline: persisted per step so a restart resumes
    where it stopped and a referral is never finished as two reports."""

    __tablename__ = "ncmec_submissions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    referral_id: Mapped[int] = mapped_column(ForeignKey("referrals.id"), unique=True)
    state: Mapped[NcmecState] = mapped_column(
        EnumString(NcmecState, 20), default=NcmecState.QUEUED, index=True
    )
    ncmec_report_id: Mapped[int | None] = mapped_column(Integer)
    # One entry per file: {"item_id", "sha256", "file_id" (None until uploaded), "described"}.
    files: Mapped[list[dict[str, object]]] = mapped_column(JSON, default=list)
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # HTTP calls made, all steps
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
