"""Pydantic I/O of the partners API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class OrgIn(BaseModel):
    """A new partner organisation."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    kind: str
    country: str | None = None


class KeyIn(BaseModel):
    """A new API key for an organisation."""

    model_config = ConfigDict(extra="forbid")
    scopes: list[str] = Field(min_length=1)
    ip_allow: list[str] = Field(default_factory=list)
    label: str = Field(default="", max_length=100)


class KeyOut(BaseModel):
    """A key as listed (never the key itself)."""

    id: int
    prefix: str
    scopes: list[str]
    ip_allow: list[str]
    label: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class NewKeyOut(KeyOut):
    """A key just created: the only time the key itself is shown."""

    key: str


class OrgOut(BaseModel):
    """An organisation with its keys."""

    id: int
    name: str
    kind: str
    country: str | None
    active: bool
    keys: list[KeyOut]
