"""Pydantic input and output shapes of the helpline.

The two modes have different shapes: the prevention helpline's has no field that could
hold identifying details, and unknown fields are refused (extra="forbid"), so an API client
or a tampered form cannot slip them in.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ContactBase(BaseModel):
    """Fields both helplines record (codes from the taxonomy, checked by the service)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    channel: str = Field(max_length=40)
    contact_type: str = Field(max_length=60)
    categories: list[str] = Field(default_factory=list, max_length=20)
    age_band: str | None = Field(default=None, max_length=20)
    gender: str | None = Field(default=None, max_length=20)
    region: str | None = Field(default=None, max_length=60)
    outcome: str = Field(max_length=40)
    referrals: list[str] = Field(default_factory=list, max_length=10)
    resources: list[int] = Field(
        default_factory=list, max_length=20, description="Ids of directory resources referred to."
    )
    immediate_risk: bool = Field(
        default=False, description="A child is at immediate risk: escalates to a supervisor."
    )
    notes: str = Field(default="", max_length=4000, description="Encrypted at rest.")


class ChildContactIn(ContactBase):
    """A child helpline contact: identifying details are optional (encrypted at rest)."""

    caller_name: str | None = Field(default=None, max_length=200)
    caller_contact: str | None = Field(default=None, max_length=200)


class PreventionContactIn(ContactBase):
    """A prevention helpline contact: no identifying details exist in this shape."""


class ContactOut(BaseModel):
    """What the API answers after recording a contact."""

    id: int
    mode: str
    period: str
    escalated: bool


class TrendTableOut(BaseModel):
    """A published period-by-dimension table with suppressed cells as null."""

    year: int
    by: str
    k: int
    columns: list[str]
    column_labels: list[str]
    rows: list[str]
    cells: list[list[int | None]]
    row_totals: list[int | None]
    column_totals: list[int | None]
    total: int | None
    counts: str = Field(description="'contacts', or 'category mentions' for categories")
