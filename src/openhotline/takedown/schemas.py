"""JSON shapes of the takedown API."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


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
