"""Request and response bodies of the police API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from openhotline.police.service import QueueEntry


class HoldIn(BaseModel):
    """Why police hold a case (kept on the case's timeline)."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=2000)


class ReferralOut(BaseModel):
    """A police referral with its SLA clocks."""

    id: int
    case_id: int
    url: str
    host: str
    country: str | None
    kind: str
    state: str  # waiting, acknowledged, cleared, held, auto_released
    created_at: datetime
    acknowledged_at: datetime | None
    decided_at: datetime | None
    acknowledge_by: datetime
    decide_by: datetime
    auto_release_at: datetime | None
    acknowledge_overdue: bool
    decide_overdue: bool
    package: str  # where to fetch the signed package

    @classmethod
    def of(cls, e: QueueEntry) -> ReferralOut:
        """Build from a queue entry."""
        r = e.referral
        return cls(
            id=r.id, case_id=r.case_id, url=e.case.canonical_url, host=e.case.host,
            country=r.country, kind=r.kind.value, state=e.state, created_at=r.created_at,
            acknowledged_at=r.acknowledged_at, decided_at=r.decided_at,
            acknowledge_by=e.ack_due, decide_by=e.decide_due, auto_release_at=e.release_at,
            acknowledge_overdue=e.ack_overdue, decide_overdue=e.decide_overdue,
            package=f"/api/v1/police/referrals/{r.id}/package",
        )  # fmt: skip


class DecisionOut(BaseModel):
    """What a decision did."""

    referral: ReferralOut
    notices: int  # notices released (clear) or held (hold)
