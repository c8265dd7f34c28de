"""Tables of the partners domain: PartnerOrg and ApiKey (stored as SHA-256 digests)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from openhotline.db import Base, EnumString, UTCDateTime, utcnow


class OrgKind(StrEnum):
    """What sort of organisation a partner is."""

    HOTLINE = "hotline"
    POLICE = "police"
    HOSTING_PROVIDER = "hosting_provider"
    PLATFORM = "platform"
    FILTERING_PROVIDER = "filtering_provider"


class Scope(StrEnum):
    """What an API key may do."""

    READ_URL_LIST = "urls.read"
    READ_HASH_LIST = "hashes.read"
    SUBMIT_REPORTS = "reports.submit"
    MATCH_HASHES = "hashes.match"
    RECEIVE_REFERRALS = "referrals.receive"
    POLICE_REFERRALS = "police.referrals"  # a police partner's queue: packages and decisions
    UPLOAD_EVIDENCE = "evidence.upload"  # add evidence files to a case


class PartnerOrg(Base):
    """A partner organisation."""

    __tablename__ = "partner_orgs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[OrgKind] = mapped_column(EnumString(OrgKind, 30))
    # ISO 3166 alpha-2 (hotlines and police: the country they cover).
    country: Mapped[str | None] = mapped_column(String(2))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    keys: Mapped[list[ApiKey]] = relationship(back_populates="org", order_by="ApiKey.id")


class ApiKey(Base):
    """One API key of an organisation; only its SHA-256 is stored."""

    __tablename__ = "partner_api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("partner_orgs.id"), index=True)
    # The first characters of the key, so people can tell keys apart (not secret).
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # Space-separated Scope values.
    scopes: Mapped[str] = mapped_column(Text)
    # Space-separated networks (CIDR); empty = any address.
    ip_allow: Mapped[str] = mapped_column(Text, default="")
    label: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set when this key was replaced by rotation.
    replaced_by_id: Mapped[int | None] = mapped_column(Integer)

    org: Mapped[PartnerOrg] = relationship(back_populates="keys")
