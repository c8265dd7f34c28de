"""Pydantic input and output shapes of the helpline.

The two modes have different shapes: the prevention helpline's has no field that could
hold identifying details, and unknown fields are refused (extra="forbid"), so an API client
or a tampered form cannot slip them in.
"""

from __future__ import annotations

from datetime import date, datetime

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


class CaseContactOut(BaseModel):
    """A contact of a helpline case, as the case page lists it (no notes, no identity)."""

    id: int
    period: str
    channel: str
    contact_type: str
    outcome: str
    counsellor: str | None


class CaseTaskOut(BaseModel):
    """A follow-up task of a case."""

    id: int
    title: str
    due_at: datetime
    done_at: datetime | None
    overdue: bool


class CaseReferralOut(BaseModel):
    """A referral made for a case and what came of it."""

    id: int
    agency: str
    made_at: datetime
    outcome: str
    outcome_at: datetime | None


class CaseSummaryOut(BaseModel):
    """A helpline case in a search result."""

    id: int
    mode: str
    status: str
    counsellor: str | None
    opened_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    contacts: int
    open_tasks: int
    overdue_tasks: int


class CaseOut(CaseSummaryOut):
    """One helpline case: summary, contacts, tasks and referrals."""

    summary: str
    contact_list: list[CaseContactOut]
    tasks: list[CaseTaskOut]
    referrals: list[CaseReferralOut]


class CaseUpdateIn(BaseModel):
    """Changes to a case; omitted fields stay as they are."""

    model_config = ConfigDict(extra="forbid")

    status: str | None = Field(default=None, max_length=20)
    counsellor: str | None = Field(default=None, max_length=64)
    summary: str | None = Field(default=None, max_length=4000)


class CaseTaskIn(BaseModel):
    """A follow-up task to add (due: a date, default in 7 days)."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=300)
    due: date | None = None


class CaseReferralIn(BaseModel):
    """A referral to record: an agency code of the taxonomy."""

    model_config = ConfigDict(extra="forbid")

    agency: str = Field(min_length=1, max_length=40)


class ReferralOutcomeIn(BaseModel):
    """What came of a referral."""

    model_config = ConfigDict(extra="forbid")

    outcome: str = Field(min_length=1, max_length=20)
