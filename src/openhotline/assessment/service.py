"""Assessment use cases: route new items (known → automatic), grade with four eyes, disputes.

Services never commit: the caller owns the transaction.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from openhotline import db
from openhotline.assessment import banks
from openhotline.assessment.banks import BankMatch
from openhotline.assessment.models import (
    Assessment,
    AssessmentKind,
    Claim,
    ItemReview,
    ReviewState,
)
from openhotline.assessment.policy import AssessmentPolicy
from openhotline.assessment.schemes import Classification
from openhotline.audit import service as audit
from openhotline.audit.models import AuditAction
from openhotline.cases.lifecycle import AWAITING_ASSESSMENT, AWAITING_CAPTURE, CAN_BE_CLAIMED
from openhotline.cases.models import Case, CaseStatus
from openhotline.cases.service import move
from openhotline.errors import ConflictError
from openhotline.matching import service as matching
from openhotline.matching.engine import MatchEngine
from openhotline.matching.service import Match
from openhotline.media.models import CaseItem, Item, ItemStatus


class AssessmentError(ConflictError):
    """A request that cannot be done now; the message is safe to show the analyst."""


class KnownContentError(AssessmentError):
    """The item matches a confirmed bank: it was assessed automatically and is not shown."""


@dataclass(frozen=True)
class Actor:
    """Who acts: user id and audit name."""

    user_id: int
    name: str


def route_new_items(
    session: Session, *, limit: int = 500, engine: MatchEngine | None = None
) -> tuple[int, int]:
    """Match NEW items against the confirmed bank: auto-assess known ones, queue the rest.

    Returns (automatically assessed, queued for analysts).
    """
    items = (
        session.execute(
            select(Item).where(Item.status == ItemStatus.NEW).order_by(Item.id).limit(limit)
        )
        .scalars()
        .all()
    )
    auto = queued = 0
    for item in items:
        if route_item(session, item, engine):
            queued += 1
        else:
            auto += 1
    session.flush()
    settle_known_cases(session, limit=limit)
    return auto, queued


def settle_known_cases(session: Session, *, limit: int = 500) -> int:
    """Move on waiting cases that one decided illegal item (or all decided items) settle."""
    undecided = (
        select(CaseItem.id)
        .outerjoin(ItemReview, ItemReview.item_id == CaseItem.item_id)
        .where(
            CaseItem.case_id == Case.id,
            (ItemReview.state.is_(None)) | (ItemReview.state != ReviewState.DECIDED),
        )
        .exists()
    )
    confirmed_illegal = (
        select(CaseItem.id)
        .join(ItemReview, ItemReview.item_id == CaseItem.item_id)
        .where(
            CaseItem.case_id == Case.id,
            ItemReview.state == ReviewState.DECIDED,
            ItemReview.illegal.is_(True),
        )
        .exists()
    )
    has_items = select(CaseItem.id).where(CaseItem.case_id == Case.id).exists()
    cases = (
        session.execute(
            select(Case.id)
            .where(Case.status.in_(CAN_BE_CLAIMED.values))
            .where(has_items, (~undecided) | confirmed_illegal)
            .limit(limit)
        )
        .scalars()
        .all()
    )
    for case_id in cases:
        item_id = session.execute(
            select(CaseItem.item_id).where(CaseItem.case_id == case_id).limit(1)
        ).scalar_one()
        _update_cases(session, item_id, "system")
    return len(cases)


def route_item(session: Session, item: Item, engine: MatchEngine | None = None) -> bool:
    """Route one NEW item: False when it matched the bank (auto-assessed), True when queued."""
    if check_known(session, item, engine):
        return False
    item.status = ItemStatus.TRIAGE
    if session.get(ItemReview, item.id) is None:
        session.add(ItemReview(item_id=item.id, state=ReviewState.OPEN, queued_at=db.now(session)))
    for case in _cases_of(session, item.id):
        if AWAITING_CAPTURE(case):
            move(session, case, CaseStatus.TRIAGE, actor="system")
    session.flush()
    return True


def check_known(session: Session, item: Item, engine: MatchEngine | None = None) -> bool:
    """If the item matches a confirmed bank, assess it automatically and return True.

    Exact hashes always; PDQ near-duplicates too when the match engine is given.
    """
    if item.status == ItemStatus.AUTO_ASSESSED:
        return True
    review = session.get(ItemReview, item.id)
    if review is not None and review.state == ReviewState.DECIDED:
        return False
    match = banks.find_confirmed_match(session, item, engine)
    if match is None:
        return False
    _auto_assess(session, item, review, match)
    return True


def assess_automatically(session: Session, item: Item, matches: list[Match]) -> BankMatch | None:
    """Apply bank policies to matches found by another path (e.g. capture).

    A trusted bank's mapped match assesses the item automatically (returned); matches in
    review-with-hint banks (or with no classification mapping) are recorded as hints the
    analyst sees on the item page; report-only matches are recorded and change nothing.
    """
    outcome = banks.apply_policies(session, matches)
    for bank, m, decision in outcome.hints:
        matching.record_hint(session, item.id, bank, m, decision)
    if outcome.auto is None or item.status == ItemStatus.AUTO_ASSESSED:
        return None if item.status != ItemStatus.AUTO_ASSESSED else outcome.auto
    _auto_assess(session, item, session.get(ItemReview, item.id), outcome.auto)
    return outcome.auto


def _auto_assess(
    session: Session, item: Item, review: ItemReview | None, match: banks.BankMatch
) -> None:
    now = db.now(session)
    session.add(
        Assessment(
            item_id=item.id,
            user_id=None,
            kind=AssessmentKind.AUTOMATIC,
            scheme=match.scheme or "imported",
            classification=match.classification,
            illegal=True,
            fields=json.dumps(
                {"bank": match.bank, "algorithm": match.algorithm, "distance": match.distance}
            ),
            created_at=now,
        )
    )
    if review is None:
        review = ItemReview(item_id=item.id, queued_at=now)
        session.add(review)
    review.state = ReviewState.DECIDED
    review.classification = match.classification
    review.illegal = True
    review.automatic = True
    review.decided_at = now
    item.status = ItemStatus.AUTO_ASSESSED
    session.execute(delete(Claim).where(Claim.item_id == item.id))
    audit.record(
        session,
        "system",
        AuditAction.ASSESSMENT_AUTOMATIC,
        f"item:{item.id}",
        {
            "bank": match.bank,
            "algorithm": match.algorithm,
            "distance": match.distance,
            "classification": match.classification,
        },
    )
    session.flush()
    _update_cases(session, item.id, "system")


def _cases_of(session: Session, item_id: int) -> list[Case]:
    return list(
        session.execute(
            select(Case)
            .join(CaseItem, CaseItem.case_id == Case.id)
            .where(CaseItem.item_id == item_id)
        )
        .scalars()
        .all()
    )


def _update_cases(session: Session, item_id: int, actor: str) -> None:
    """Move each waiting case of the item on (ASSESSED on one illegal item; CLOSED on none).

    A case is actioned as soon as ONE item is decided illegal: the others keep being graded
    for hash lists and statistics without holding the notice back. It closes only once every
    item is decided and none is illegal.
    """
    for case in _cases_of(session, item_id):
        if not AWAITING_ASSESSMENT(case):
            continue
        states = session.execute(
            select(ItemReview.item_id, ItemReview.state, ItemReview.illegal)
            .join(CaseItem, CaseItem.item_id == ItemReview.item_id)
            .where(CaseItem.case_id == case.id)
        ).all()
        illegal = [s.item_id for s in states if s.state == ReviewState.DECIDED and s.illegal]
        if illegal:
            move(
                session,
                case,
                CaseStatus.ASSESSED,
                actor=actor,
                reason=f"item {illegal[0]} confirmed illegal",
            )
            continue
        total = len(session.execute(select(CaseItem.id).where(CaseItem.case_id == case.id)).all())
        if len(states) < total or any(s.state != ReviewState.DECIDED for s in states):
            continue
        move(session, case, CaseStatus.CLOSED, actor=actor, reason="nothing illegal")


def grades_of(session: Session, item_id: int) -> list[Assessment]:
    """Return every grade of an item, oldest first."""
    return list(
        session.execute(
            select(Assessment).where(Assessment.item_id == item_id).order_by(Assessment.id)
        )
        .scalars()
        .all()
    )


@dataclass(frozen=True)
class GradeOutcome:
    """What a grade did: the review state after it, and whether hashes entered the bank."""

    state: ReviewState
    admitted: int = 0


def assess(
    session: Session,
    item_id: int,
    actor: Actor,
    code: str,
    values: dict[str, str],
    policy: AssessmentPolicy,
) -> GradeOutcome:
    """Grade a claimed item; illegal grades need N distinct agreeing analysts (four eyes)."""
    cls, fields = policy.scheme.validate(code, values)
    claim = session.get(Claim, item_id)
    if claim is None or claim.user_id != actor.user_id or claim.expires_at <= db.now(session):
        raise AssessmentError("claim the item before grading it (your claim may have expired)")
    item = session.get(Item, item_id)
    review = session.get(ItemReview, item_id)
    if (
        item is None
        or review is None
        or review.state
        not in (
            ReviewState.OPEN,
            ReviewState.CONFIRMING,
        )
    ):
        raise AssessmentError("this item is not waiting for a grade")
    if any(g.user_id == actor.user_id for g in grades_of(session, item_id)):
        raise AssessmentError("you already graded this item; another analyst must confirm it")
    session.add(
        Assessment(
            item_id=item_id,
            user_id=actor.user_id,
            kind=AssessmentKind.GRADE,
            scheme=policy.scheme.name,
            classification=cls.code,
            illegal=cls.illegal,
            fields=json.dumps(fields, sort_keys=True),
            created_at=db.now(session),
        )
    )
    session.delete(claim)
    session.flush()
    details: dict[str, Any] = {"classification": cls.code, "scheme": policy.scheme.name, **fields}
    outcome = _apply_four_eyes(session, item, review, cls, actor, policy, details)
    return outcome


def _apply_four_eyes(
    session: Session,
    item: Item,
    review: ItemReview,
    cls: Classification,
    actor: Actor,
    policy: AssessmentPolicy,
    details: dict[str, Any],
) -> GradeOutcome:
    return four_eyes_step(
        session,
        review,
        cls,
        actor.name,
        f"item:{item.id}",
        details,
        agreeing=lambda: {
            g.user_id
            for g in grades_of(session, item.id)
            if g.kind == AssessmentKind.GRADE and g.classification == cls.code
        },
        required=policy.confirmations_required,
        decide=lambda: _decide(session, item, review, cls, actor.name, policy),
    )


class Review(Protocol):
    """What the four-eyes rule reads and sets on an item's or a URL's review."""

    state: ReviewState
    classification: str | None
    illegal: bool | None


def four_eyes_step(
    session: Session,
    review: Review,
    cls: Classification,
    actor: str,
    target: str,
    details: dict[str, Any],
    agreeing: Callable[[], set[int | None]],
    required: int,
    decide: Callable[[], GradeOutcome],
) -> GradeOutcome:
    """Apply one analyst's blind grade (already recorded) to an open or confirming review.

    A first grade of "not illegal" decides at once; an illegal one waits for `required`
    distinct analysts agreeing on the same class (agreeing() gives their user ids, the new
    grade included); any other class is a dispute for a supervisor. Every step is audited.
    Shared by item and URL-level grading, so the rule cannot drift between them.
    """
    if review.state == ReviewState.OPEN:
        audit.record(session, actor, AuditAction.ASSESSMENT_GRADE, target, details)
        if not cls.illegal:
            return decide()
        review.state = ReviewState.CONFIRMING
        review.classification = cls.code
        review.illegal = True
        session.flush()
        return GradeOutcome(ReviewState.CONFIRMING)
    # CONFIRMING: a further distinct analyst graded blind; agreement means the same class.
    if cls.code != review.classification:
        audit.record(
            session,
            actor,
            AuditAction.ASSESSMENT_DISAGREE,
            target,
            {**details, "proposed": review.classification},
        )
        review.state = ReviewState.DISPUTED
        session.flush()
        return GradeOutcome(ReviewState.DISPUTED)
    audit.record(session, actor, AuditAction.ASSESSMENT_CONFIRM, target, details)
    if len(agreeing()) >= required:
        return decide()
    return GradeOutcome(ReviewState.CONFIRMING)


def _decide(
    session: Session,
    item: Item,
    review: ItemReview,
    cls: Classification,
    actor: str,
    policy: AssessmentPolicy,
) -> GradeOutcome:
    review.state = ReviewState.DECIDED
    review.classification = cls.code
    review.illegal = cls.illegal
    review.decided_at = db.now(session)
    item.status = ItemStatus.ASSESSED
    admitted = 0
    if cls.illegal:
        admitted = banks.admit_item_hashes(
            session, item, scheme=policy.scheme.name, classification=cls.code
        )
        audit.record(
            session,
            actor,
            AuditAction.BANK_ADMIT,
            f"item:{item.id}",
            {"bank": banks.CONFIRMED_BANK, "classification": cls.code, "hashes": admitted},
        )
    session.execute(delete(Claim).where(Claim.item_id == item.id))
    session.flush()
    _update_cases(session, item.id, actor)
    return GradeOutcome(ReviewState.DECIDED, admitted)


@dataclass(frozen=True)
class Dispute:
    """An item the analysts disagreed on, with every grade."""

    item: Item
    review: ItemReview
    grades: list[Assessment]


def disputes(session: Session, *, limit: int = 100) -> list[Dispute]:
    """Return disputed items, oldest first, for the supervisor queue."""
    reviews = (
        session.execute(
            select(ItemReview)
            .where(ItemReview.state == ReviewState.DISPUTED)
            .order_by(ItemReview.queued_at, ItemReview.item_id)
            .limit(limit)
        )
        .scalars()
        .all()
    )
    out = []
    for review in reviews:
        item = session.get(Item, review.item_id)
        if item is not None:
            out.append(Dispute(item, review, grades_of(session, item.id)))
    return out


def resolve_dispute(
    session: Session,
    item_id: int,
    actor: Actor,
    code: str,
    values: dict[str, str],
    policy: AssessmentPolicy,
) -> GradeOutcome:
    """A supervisor who did not grade the item decides it."""
    cls, fields = policy.scheme.validate(code, values)
    review = session.get(ItemReview, item_id)
    item = session.get(Item, item_id)
    if review is None or item is None or review.state != ReviewState.DISPUTED:
        raise AssessmentError("this item is not disputed")
    if any(g.user_id == actor.user_id for g in grades_of(session, item_id)):
        raise AssessmentError("you graded this item yourself; another supervisor must decide")
    session.add(
        Assessment(
            item_id=item_id,
            user_id=actor.user_id,
            kind=AssessmentKind.SUPERVISOR,
            scheme=policy.scheme.name,
            classification=cls.code,
            illegal=cls.illegal,
            fields=json.dumps(fields, sort_keys=True),
            created_at=db.now(session),
        )
    )
    audit.record(
        session,
        actor.name,
        AuditAction.ASSESSMENT_RESOLVE,
        f"item:{item_id}",
        {"classification": cls.code, "scheme": policy.scheme.name, **fields},
    )
    return _decide(session, item, review, cls, actor.name, policy)


def close_case(
    session: Session, case_id: int, actor: Actor, code: str, policy: AssessmentPolicy
) -> Case:
    """Close a case with no captured media under a non-illegal class (not found, out of remit).

    Illegal decisions need captured items (graded with four eyes), never a case alone.
    """
    cls = policy.scheme.get(code)
    if cls is None or cls.illegal:
        raise AssessmentError("choose one of the classes that close a case (not illegal ones)")
    case = session.get(Case, case_id)
    if case is None:
        raise AssessmentError("no such case")
    if not AWAITING_ASSESSMENT(case):
        raise AssessmentError("this case is not waiting for assessment")
    if session.execute(select(CaseItem.id).where(CaseItem.case_id == case_id)).first():
        raise AssessmentError("this case has captured items: grade the items")
    move(session, case, CaseStatus.CLOSED, actor=actor.name, reason=cls.code)
    audit.record(
        session,
        actor.name,
        AuditAction.ASSESSMENT_CASE,
        f"case:{case_id}",
        {"classification": cls.code, "scheme": policy.scheme.name},
    )
    return case
