"""The triage queue and claims: what an analyst sees next, and who works on what.

Order: child in immediate danger first (Case.priority), then new content nobody has graded,
then the rest (items waiting for confirmation); oldest first within each. Items that match a
confirmed bank never appear: new items are routed through the bank before they are listed,
and every claim checks the bank again. Services never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from openhotline import db
from openhotline.accounts.models import User
from openhotline.assessment.models import Assessment, Claim, ItemReview, ReviewState
from openhotline.assessment.policy import AssessmentPolicy
from openhotline.assessment.service import (
    Actor,
    AssessmentError,
    KnownContentError,
    check_known,
    route_item,
    route_new_items,
)
from openhotline.audit import service as audit
from openhotline.audit.models import AuditAction
from openhotline.cases.lifecycle import AWAITING_ASSESSMENT, CAN_BE_CLAIMED
from openhotline.cases.models import Case, CaseStatus
from openhotline.cases.service import move
from openhotline.matching.engine import MatchEngine
from openhotline.media.models import CaseItem, Item, ItemStatus

QUEUE_STATES = (ReviewState.OPEN, ReviewState.CONFIRMING)


@dataclass(frozen=True)
class QueueFilters:
    """Optional filters: review state, item source (prefix), age in hours."""

    state: str | None = None
    source: str | None = None
    min_age_hours: int | None = None
    max_age_hours: int | None = None


@dataclass(frozen=True)
class QueueEntry:
    """One item in the queue, with what the analyst needs to pick it (no media)."""

    item_id: int
    state: str
    priority: int
    source: str
    media_type: str
    created_at: datetime
    case_count: int
    claimed_by_me: bool


def list_queue(
    session: Session,
    actor: Actor,
    filters: QueueFilters | None = None,
    *,
    limit: int = 50,
    offset: int = 0,
    engine: MatchEngine | None = None,
) -> list[QueueEntry]:
    """Return the queue for this analyst (routing new items through the banks first)."""
    route_new_items(session, engine=engine)
    f = filters or QueueFilters()
    now = db.now(session)
    priority = (
        select(func.coalesce(func.max(Case.priority), 0))
        .join(CaseItem, CaseItem.case_id == Case.id)
        .where(CaseItem.item_id == Item.id)
        .scalar_subquery()
    )
    case_count = (
        select(func.count(CaseItem.id)).where(CaseItem.item_id == Item.id).scalar_subquery()
    )
    graded_by_me = (
        select(Assessment.id)
        .where(Assessment.item_id == Item.id, Assessment.user_id == actor.user_id)
        .exists()
    )
    query = (
        select(
            Item.id,
            ItemReview.state,
            priority.label("priority"),
            Item.source,
            Item.media_type,
            Item.created_at,
            case_count.label("case_count"),
            Claim.user_id.label("claimer"),
            Claim.expires_at,
        )
        .join(ItemReview, ItemReview.item_id == Item.id)
        .outerjoin(Claim, Claim.item_id == Item.id)
        .where(
            Item.status == ItemStatus.TRIAGE,
            ItemReview.state.in_(QUEUE_STATES),
            ~graded_by_me,
            or_(Claim.user_id.is_(None), Claim.user_id == actor.user_id, Claim.expires_at <= now),
        )
    )
    if f.state in QUEUE_STATES:
        query = query.where(ItemReview.state == f.state)
    if f.source:
        query = query.where(Item.source.startswith(f.source, autoescape=True))
    if f.min_age_hours is not None:
        query = query.where(Item.created_at <= now - timedelta(hours=f.min_age_hours))
    if f.max_age_hours is not None:
        query = query.where(Item.created_at >= now - timedelta(hours=f.max_age_hours))
    new_first = case((ItemReview.state == ReviewState.OPEN, 0), else_=1)
    query = query.order_by(priority.desc(), new_first, Item.created_at, Item.id)
    rows = session.execute(query.limit(limit).offset(offset)).all()
    return [
        QueueEntry(
            item_id=r.id,
            state=r.state,
            priority=r.priority,
            source=r.source,
            media_type=r.media_type,
            created_at=r.created_at,
            case_count=r.case_count,
            claimed_by_me=r.claimer == actor.user_id and r.expires_at > now,
        )
        for r in rows
    ]


def claim(
    session: Session,
    item_id: int,
    actor: Actor,
    policy: AssessmentPolicy,
    engine: MatchEngine | None = None,
) -> Claim:
    """Claim an item for this analyst (raises if someone else holds it, or it is known)."""
    item = session.get(Item, item_id)
    if item is None:
        raise AssessmentError("no such item")
    if item.status == ItemStatus.NEW:
        route_item(session, item, engine)
    if check_known(session, item, engine):
        raise KnownContentError(
            "this item matches the confirmed hash bank and was assessed automatically"
        )
    review = session.get(ItemReview, item_id)
    if item.status != ItemStatus.TRIAGE or review is None or review.state not in QUEUE_STATES:
        raise AssessmentError("this item is not waiting in the queue")
    graded = session.execute(
        select(Assessment.id).where(
            Assessment.item_id == item_id, Assessment.user_id == actor.user_id
        )
    ).first()
    if graded is not None:
        raise AssessmentError("you already graded this item; another analyst must confirm it")
    now = db.now(session)
    existing = session.get(Claim, item_id)
    if existing is not None:
        if existing.user_id != actor.user_id and existing.expires_at > now:
            raise AssessmentError("another analyst is working on this item")
        existing.user_id = actor.user_id
        existing.claimed_at = now
        existing.expires_at = now + timedelta(minutes=policy.claim_minutes)
        result = existing
    else:
        result = Claim(
            item_id=item_id,
            user_id=actor.user_id,
            claimed_at=now,
            expires_at=now + timedelta(minutes=policy.claim_minutes),
        )
        session.add(result)
        try:
            session.flush()
        except IntegrityError as exc:  # a concurrent claim won; the caller rolls back
            raise AssessmentError("another analyst is working on this item") from exc
    for c in session.execute(
        select(Case)
        .join(CaseItem, CaseItem.case_id == Case.id)
        .where(
            CaseItem.item_id == item_id,
            Case.status.in_(CAN_BE_CLAIMED.values),
        )
    ).scalars():
        move(session, c, CaseStatus.ASSESSING, actor=actor.name, reason=f"item {item_id} claimed")
    audit.record(session, actor.name, AuditAction.ITEM_CLAIM, f"item:{item_id}", {})
    return result


def release(session: Session, item_id: int, actor: Actor) -> None:
    """Give an item back to the queue."""
    existing = session.get(Claim, item_id)
    if existing is not None and existing.user_id == actor.user_id:
        session.delete(existing)
        audit.record(session, actor.name, AuditAction.ITEM_RELEASE, f"item:{item_id}", {})
        session.flush()


def active_claim(session: Session, item_id: int, user_id: int) -> Claim | None:
    """Return this user's live claim on the item, or None."""
    existing = session.get(Claim, item_id)
    if existing is None or existing.user_id != user_id or existing.expires_at <= db.now(session):
        return None
    return existing


def claim_holder(session: Session, item_id: int) -> str | None:
    """Return the username holding a live claim on the item, if any."""
    row = session.execute(
        select(User.username)
        .join(Claim, Claim.user_id == User.id)
        .where(and_(Claim.item_id == item_id, Claim.expires_at > db.now(session)))
    ).first()
    return row[0] if row else None


def queue_counts(session: Session) -> dict[str, int]:
    """Return how many items wait in each review state (for the home page)."""
    rows = session.execute(
        select(ItemReview.state, func.count())
        .join(Item, Item.id == ItemReview.item_id)
        .where(Item.status == ItemStatus.TRIAGE)
        .group_by(ItemReview.state)
    ).all()
    return dict(rows)


def urgent_flag(priority: int) -> bool:
    """True when the priority means a child may be in immediate danger."""
    from openhotline.cases.models import PRIORITY_CHILD_IN_DANGER

    return priority >= PRIORITY_CHILD_IN_DANGER


def may_view(session: Session, item_id: int, user_id: int, *, can_resolve: bool) -> bool:
    """True when the user may see the item's preview: their claim, or a dispute to resolve."""
    if active_claim(session, item_id, user_id) is not None:
        return True
    if not can_resolve:
        return False
    review = session.get(ItemReview, item_id)
    if review is None or review.state != ReviewState.DISPUTED:
        return False
    graded = session.execute(
        select(Assessment.id).where(Assessment.item_id == item_id, Assessment.user_id == user_id)
    ).first()
    return graded is None


@dataclass(frozen=True)
class CaseEntry:
    """A waiting case with no captured media (an analyst may close it: not found etc.)."""

    case_id: int
    canonical_url: str
    priority: int
    status: CaseStatus
    created_at: datetime


def list_cases_without_items(
    session: Session, *, source: str | None = None, limit: int = 50
) -> list[CaseEntry]:
    """Return open cases that have no items, urgent first, then oldest first."""
    has_items = select(CaseItem.id).where(CaseItem.case_id == Case.id).exists()
    query = (
        select(Case.id, Case.canonical_url, Case.priority, Case.status, Case.created_at)
        .where(
            Case.status.in_(AWAITING_ASSESSMENT.values),
            ~has_items,
        )
        .order_by(Case.priority.desc(), Case.created_at, Case.id)
        .limit(limit)
    )
    return [CaseEntry(*row) for row in session.execute(query).all()]
