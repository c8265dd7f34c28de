"""Protecting analysts: reveals of one item at a time, counted toward a daily exposure budget.

How a reveal counts: revealing opens a window of at most `reveal_window_seconds` (less when
the budget has less left). The time counted is from the reveal until the analyst hides the
item again, reveals another, or the window ends, whichever comes first. The budget is per
UTC day: a day counts the exposure that fell inside it, so a reveal that runs over midnight
counts its seconds before midnight to the old day and the rest to the new one. When it is
used up, previews stay blurred and the analyst is told to stop.
Services never commit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from openhotline import db
from openhotline.accounts.models import User
from openhotline.accounts.permissions import MEDIA_VIEWING_ROLES
from openhotline.assessment.models import Reveal
from openhotline.assessment.policy import AssessmentPolicy
from openhotline.assessment.queue import may_view
from openhotline.assessment.service import AssessmentError
from openhotline.audit import service as audit
from openhotline.audit.models import AuditAction
from openhotline.errors import ErrorKind, ForbiddenError


class BudgetExhaustedError(AssessmentError, ForbiddenError):
    """The analyst's exposure budget for today is used up."""

    kind = ErrorKind.FORBIDDEN


@dataclass(frozen=True)
class Budget:
    """An analyst's exposure today."""

    used_seconds: int
    budget_seconds: int
    reveals: int

    @property
    def exhausted(self) -> bool:
        """True when no exposure time is left today."""
        return self.used_seconds >= self.budget_seconds

    @property
    def left_seconds(self) -> int:
        """Seconds left today."""
        return max(0, self.budget_seconds - self.used_seconds)

    @property
    def used_minutes(self) -> int:
        """Minutes used today (rounded up)."""
        return -(-self.used_seconds // 60)

    @property
    def budget_minutes(self) -> int:
        """The daily budget in minutes."""
        return self.budget_seconds // 60


# Other screens that show material (Report Remove) add their reveals' seconds here, so one
# daily budget covers them all: source(session, user_id, day_start, now) -> seconds.
ExposureSource = Callable[[Session, int, datetime, datetime], int]
EXTRA_EXPOSURE: list[ExposureSource] = []


def add_exposure_source(source: ExposureSource) -> None:
    """Count another domain's reveals toward every analyst's daily budget (idempotent)."""
    if source not in EXTRA_EXPOSURE:
        EXTRA_EXPOSURE.append(source)


def _day_start(now: datetime) -> datetime:
    return datetime.combine(now.date(), time.min, tzinfo=now.tzinfo)


def counted_seconds(reveal: Reveal, now: datetime, since: datetime | None = None) -> int:
    """Seconds a reveal counts (after `since`): until hidden or its window ends, if first."""
    start = max(reveal.started_at, since) if since is not None else reveal.started_at
    end = min(reveal.closed_at or now, reveal.ends_at, now)
    return max(0, int((end - start).total_seconds() + 0.999))


def budget_of(session: Session, user_id: int, policy: AssessmentPolicy) -> Budget:
    """Return the user's exposure today (UTC day of the session's clock)."""
    now = db.now(session)
    day_start = _day_start(now)
    # Every reveal whose window reaches into today, not only those started today: a reveal
    # begun before midnight still exposes the analyst after it. No window lasts a day, so
    # the started_at bound only keeps the (user_id, started_at) index in use.
    reveals = (
        session.execute(
            select(Reveal).where(
                Reveal.user_id == user_id,
                Reveal.started_at > day_start - timedelta(days=1),
                Reveal.ends_at > day_start,
                or_(Reveal.closed_at.is_(None), Reveal.closed_at > day_start),
            )
        )
        .scalars()
        .all()
    )
    used = sum(counted_seconds(r, now, day_start) for r in reveals)
    used += sum(source(session, user_id, day_start, now) for source in EXTRA_EXPOSURE)
    return Budget(used, policy.exposure_budget_seconds, len(reveals))


def open_reveal(session: Session, user_id: int, item_id: int) -> Reveal | None:
    """Return the user's live reveal of this item (not hidden, window not over), or None."""
    now = db.now(session)
    return session.execute(
        select(Reveal)
        .where(
            Reveal.user_id == user_id,
            Reveal.item_id == item_id,
            Reveal.closed_at.is_(None),
            Reveal.ends_at > now,
        )
        .order_by(Reveal.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def _close_open(session: Session, user_id: int, now: datetime) -> None:
    session.execute(
        update(Reveal)
        .where(Reveal.user_id == user_id, Reveal.closed_at.is_(None), Reveal.ends_at > now)
        .values(closed_at=now)
        .execution_options(synchronize_session=False)
    )


def reveal(
    session: Session,
    item_id: int,
    user_id: int,
    actor: str,
    policy: AssessmentPolicy,
    *,
    can_resolve: bool = False,
    check_claim: bool = True,
    frame: int | None = None,
) -> Reveal:
    """Reveal one claimed (or disputed) item, closing any other reveal; audited, budgeted.

    check_claim=False is for callers that decided themselves who may view the item (victim
    identification opens a series' items); the budget and the audit still apply. frame: one
    sampled frame of a video's contact sheet (each revealed frame is its own reveal).
    """
    if check_claim and not may_view(session, item_id, user_id, can_resolve=can_resolve):
        raise AssessmentError("claim the item before revealing it")
    budget = budget_of(session, user_id, policy)
    if budget.exhausted:
        audit.record(
            session, actor, AuditAction.ITEM_REVEAL_REFUSED, f"item:{item_id}", {"reason": "budget"}
        )
        raise BudgetExhaustedError(
            "Your exposure budget for today is used up. Please stop viewing material and "
            "talk to your supervisor."
        )
    now = db.now(session)
    _close_open(session, user_id, now)
    window = min(policy.reveal_window_seconds, budget.left_seconds)
    row = Reveal(
        user_id=user_id, item_id=item_id, started_at=now,
        ends_at=now + timedelta(seconds=window), frame=frame,
    )  # fmt: skip
    session.add(row)
    session.flush()
    detail: dict[str, object] = {
        "reveal": row.id,
        "window_seconds": window,
        "used_seconds": budget.used_seconds,
    }
    if frame is not None:
        detail["frame"] = frame + 1  # as numbered on the contact sheet
    audit.record(session, actor, AuditAction.ITEM_REVEAL, f"item:{item_id}", detail)
    return row


def hide(session: Session, user_id: int, actor: str, item_id: int | None = None) -> None:
    """Close the user's open reveal (the preview is blurred again)."""
    now = db.now(session)
    live = session.execute(
        select(Reveal.id, Reveal.item_id).where(
            Reveal.user_id == user_id, Reveal.closed_at.is_(None), Reveal.ends_at > now
        )
    ).all()
    if not live:
        return
    _close_open(session, user_id, now)
    for row in live:
        audit.record(
            session, actor, AuditAction.ITEM_HIDE, f"item:{row.item_id}", {"reveal": row.id}
        )


@dataclass(frozen=True)
class AnalystExposure:
    """One analyst's exposure today, for supervisors."""

    username: str
    role: str
    budget: Budget


def exposure_today(session: Session, policy: AssessmentPolicy) -> list[AnalystExposure]:
    """Return today's exposure for every active user who may open media."""
    users = (
        session.execute(
            select(User)
            .where(User.active.is_(True), User.role.in_(sorted(MEDIA_VIEWING_ROLES)))
            .order_by(User.username)
        )
        .scalars()
        .all()
    )
    return [AnalystExposure(u.username, u.role, budget_of(session, u.id, policy)) for u in users]
