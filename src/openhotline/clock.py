"""The clock seam: services read time from an injected Clock, never from datetime.now()."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Something that tells the current time as an aware UTC datetime."""

    def now(self) -> datetime:
        """Return the current time (aware, UTC)."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        """Return the current time (aware, UTC)."""
        return datetime.now(UTC)


class FixedClock:
    """A clock that stays where it is put (tests; replaying a day at a chosen hour)."""

    def __init__(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("FixedClock needs an aware datetime")
        self._at = at.astimezone(UTC)

    def now(self) -> datetime:
        """Return the fixed time."""
        return self._at

    def set(self, at: datetime) -> None:
        """Move the clock to another instant."""
        if at.tzinfo is None:
            raise ValueError("FixedClock needs an aware datetime")
        self._at = at.astimezone(UTC)

    def advance(self, delta: timedelta) -> None:
        """Move the clock forward (or back, with a negative delta)."""
        self._at += delta


SYSTEM_CLOCK = SystemClock()
