"""Pydantic input and output shapes of the reporting API."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from openhotline.i18n import N_

EMAIL_RE = re.compile(r"^[^@\s<>\"']{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}$")


class Seen(StrEnum):
    """What the reporter saw, in neutral terms (the kind of content, not its description)."""

    IMAGES = "images"
    VIDEOS = "videos"
    LIVESTREAM = "livestream"
    TEXT = "text"
    LINKS = "links"
    OTHER = "other"


# Marked for translation; the form shows them in the reporter's language.
SEEN_LABELS: dict[Seen, str] = {
    Seen.IMAGES: N_("Images"),
    Seen.VIDEOS: N_("Videos"),
    Seen.LIVESTREAM: N_("A live stream"),
    Seen.TEXT: N_("Text or chat"),
    Seen.LINKS: N_("Links to other sites"),
    Seen.OTHER: N_("Something else"),
}


class ReportIn(BaseModel):
    """A report as a member of the public or a partner submits it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    urls: list[str] = Field(min_length=1, description="One or more http(s) URLs.")
    description: str = Field(default="", max_length=5000)
    seen: Seen | None = None
    found_where: str | None = Field(default=None, max_length=1000)
    child_in_danger: bool = False
    contact_email: str | None = Field(default=None, max_length=320)
    contact_consent: bool = False
    # Partners only: their own reference, makes retries idempotent.
    external_id: str | None = Field(default=None, max_length=200)

    @field_validator("urls")
    @classmethod
    def _urls_are_text(cls, urls: list[str]) -> list[str]:
        cleaned = [u for u in (u.strip() for u in urls) if u]
        if not cleaned:
            raise ValueError("at least one URL is required")
        return cleaned

    @field_validator("contact_email")
    @classmethod
    def _email_shape(cls, email: str | None) -> str | None:
        if email is None or email == "":
            return None
        if not EMAIL_RE.match(email):
            raise ValueError("contact_email is not a valid email address")
        return email

    @model_validator(mode="after")
    def _consent_needed(self) -> ReportIn:
        if self.contact_email and not self.contact_consent:
            raise ValueError(
                "contact_email is only kept with contact_consent: true "
                "(reports are anonymous unless the reporter opts in)"
            )
        return self


class ReceiptOut(BaseModel):
    """The answer to an accepted report."""

    receipt: str
    status: str


class StatusOut(BaseModel):
    """The coarse status of a report: nothing else is disclosed."""

    status: str


class BatchIn(BaseModel):
    """A partner batch: items are validated one by one so one bad item rejects only itself."""

    model_config = ConfigDict(extra="forbid")

    reports: list[Any] = Field(min_length=1)


class BatchItemOut(BaseModel):
    """The outcome of one item of a batch."""

    index: int
    accepted: bool
    receipt: str | None = None
    duplicate: bool = False
    error: str | None = None


class BatchOut(BaseModel):
    """The outcome of a batch."""

    accepted: int
    rejected: int
    results: list[BatchItemOut]


class ErrorOut(BaseModel):
    """Every 4xx answer has this shape."""

    error: str
    detail: list[str] = Field(default_factory=list)
