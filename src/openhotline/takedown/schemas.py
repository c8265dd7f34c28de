"""JSON shapes of the takedown API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class DurationSummary(BaseModel):
    """Count, median, mean and max of a duration in seconds."""

    count: int
    median_seconds: float | None
    mean_seconds: float | None
    max_seconds: float | None


class TakedownStatsOut(BaseModel):
    """Takedown figures computed from case and notice timestamps."""

    cases: int
    cases_removed: int
    notices_sent: int
    notices_per_case: float | None
    time_to_notice: DurationSummary
    time_to_removal: DurationSummary
    notice_to_removal: DurationSummary
    by_host: dict[str, dict[str, Any]]
    by_country: dict[str, dict[str, Any]]


class ConfirmOut(BaseModel):
    """Answer to a host that confirmed removal."""

    status: str
    message: str


class _Row(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class TraceOut(_Row):
    """One hosting trace."""

    traced_at: datetime
    host: str
    ip: str | None
    country: str | None
    asn: int | None
    as_org: str | None
    network: str | None
    abuse_email: str | None
    registrar_abuse_email: str | None
    cdn: str | None
    error: str | None


class NoticeOut(_Row):
    """One notice and its follow-up state."""

    id: int
    role: str
    recipient: str
    language: str
    status: str
    attempts: int
    escalation: int
    first_sent_at: datetime | None
    last_sent_at: datetime | None
    next_due_at: datetime
    host_confirmed_at: datetime | None


class SendOut(_Row):
    """One e-mail that carried a notice."""

    notice_id: int
    recipient: str
    attempt: int
    escalation: int
    sent_at: datetime


class ReferralOut(_Row):
    """One referral."""

    kind: str
    destination: str
    country: str | None
    status: str
    created_at: datetime
    cleared_at: datetime | None


class CaseTakedownOut(BaseModel):
    """Hosting traces (newest first), notices, sends and referrals of a case."""

    case_id: int
    status: str
    traces: list[TraceOut]
    notices: list[NoticeOut]
    sends: list[SendOut]
    referrals: list[ReferralOut]
