"""The referral exchange format (JSON bodies, signed with Ed25519 by the sender)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

HEX64 = r"^[0-9a-f]{64}$"


class ItemHashes(BaseModel):
    """Hashes of one item seen at the referred URL(s) (never the media itself)."""

    model_config = ConfigDict(extra="forbid")
    sha256: str = Field(pattern=HEX64)
    md5: str | None = Field(default=None, pattern=r"^[0-9a-f]{32}$")
    sha1: str | None = Field(default=None, pattern=r"^[0-9a-f]{40}$")
    pdq: str | None = Field(default=None, pattern=HEX64)
    # The sender's decided assessment of this item (absent when not decided).
    scheme: str | None = Field(default=None, max_length=100)
    classification: str | None = Field(default=None, max_length=100)
    illegal: bool | None = None
    automatic: bool | None = None
    age_band: str | None = Field(default=None, max_length=100)


class Classification(BaseModel):
    """How the referring hotline graded the case."""

    model_config = ConfigDict(extra="forbid")
    scheme: str = Field(max_length=100)
    label: str | None = Field(default=None, max_length=100)


class ReferralBody(BaseModel):
    """A referral of a case to the hotline of the hosting country."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["referral"]
    message_id: str = Field(min_length=8, max_length=36)
    referral_id: str = Field(min_length=8, max_length=36)
    sender: str = Field(pattern=r"^[A-Z]{2}$")
    recipient: str = Field(pattern=r"^[A-Z]{2}$")
    sent_at: str
    urls: list[str] = Field(min_length=1, max_length=50)
    trace: dict[str, object] | None = None
    classification: Classification | None = None
    items: list[ItemHashes] = Field(default_factory=list, max_length=1000)
    media_included: bool = False


class StatusBody(BaseModel):
    """A status update on a referral, sent back by the receiving hotline."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["status"]
    message_id: str = Field(min_length=8, max_length=36)
    referral_id: str = Field(min_length=8, max_length=36)
    sender: str = Field(pattern=r"^[A-Z]{2}$")
    recipient: str = Field(pattern=r"^[A-Z]{2}$")
    status: Literal["received", "assessed", "notice_sent", "removed", "closed"]
    at: str
