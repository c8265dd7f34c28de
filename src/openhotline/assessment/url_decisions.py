"""URL-level decisions: grade a case's URL as a whole when nothing could be captured.

A JavaScript gallery, a player or an age gate can leave a case with no items; two analysts
agreeing that "this URL shows illegal content" (with the scheme's fields) action the case the
same way one confirmed item does. Four eyes, graded blind (the second analyst never sees the
first grade), disagreement to a supervisor, every step audited. Services never commit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from openhotline import db
from openhotline.assessment.models import AssessmentKind, ReviewState, UrlDecision, UrlReview
from openhotline.assessment.policy import AssessmentPolicy
from openhotline.assessment.schemes import Classification
from openhotline.assessment.service import Actor, AssessmentError, GradeOutcome, four_eyes_step
from openhotline.audit import service as audit
from openhotline.audit.models import AuditAction
from openhotline.cases.lifecycle import AWAITING_ASSESSMENT
from openhotline.cases.models import Case, CaseStatus
from openhotline.cases.service import move
from openhotline.errors import NotFoundError
from openhotline.media.models import CaseItem

LEVEL = "url"  # marks URL-level grades in the audit log (targets are case:N)


@dataclass(frozen=True)
class UrlDecisionView:
    """What one user may know of a case's URL-level decision (blind while confirming)."""

    state: str | None  # None: nobody decided yet
    may_decide: bool  # this user may grade the URL now
    may_resolve: bool  # this user may settle a dispute (a supervisor who did not grade)
    classification: str | None  # shown only once decided
    has_items: bool


def decisions_of(session: Session, case_id: int) -> list[UrlDecision]:
    """Every URL-level grade of a case, oldest first."""
    return list(
        session.execute(
            select(UrlDecision).where(UrlDecision.case_id == case_id).order_by(UrlDecision.id)
        ).scalars()
    )


def _has_items(session: Session, case_id: int) -> bool:
    found = session.execute(select(CaseItem.id).where(CaseItem.case_id == case_id)).first()
    return found is not None


def _waiting_case(session: Session, case_id: int) -> Case:
    case = session.get(Case, case_id)
    if case is None:
        raise NotFoundError(f"no case {case_id}")
    if not AWAITING_ASSESSMENT(case):
        raise AssessmentError(f"case {case_id} is not waiting for assessment ({case.status})")
    if _has_items(session, case_id):
        raise AssessmentError("this case has captured items: grade the items")
    return case


def _record(
    session: Session,
    case_id: int,
    actor: Actor,
    kind: AssessmentKind,
    cls: Classification,
    fields: dict[str, Any],
    policy: AssessmentPolicy,
) -> None:
    session.add(
        UrlDecision(
            case_id=case_id,
            user_id=actor.user_id,
            kind=kind,
            scheme=policy.scheme.name,
            classification=cls.code,
            illegal=cls.illegal,
            fields=json.dumps(fields, sort_keys=True),
            created_at=db.now(session),
        )
    )
    session.flush()


def decide(
    session: Session,
    case_id: int,
    actor: Actor,
    code: str,
    values: dict[str, str],
    policy: AssessmentPolicy,
) -> GradeOutcome:
    """Grade a case's URL as a whole; illegal needs N distinct agreeing analysts (blind)."""
    cls, fields = policy.scheme.validate(code, values)
    case = _waiting_case(session, case_id)
    if any(d.user_id == actor.user_id for d in decisions_of(session, case_id)):
        raise AssessmentError("you already decided on this URL; another analyst must confirm it")
    review = session.get(UrlReview, case_id)
    if review is None:
        review = UrlReview(case_id=case_id, state=ReviewState.OPEN, queued_at=db.now(session))
        session.add(review)
    if review.state == ReviewState.DISPUTED:
        raise AssessmentError("analysts disagreed on this URL: a supervisor decides it")
    if review.state == ReviewState.DECIDED:
        raise AssessmentError("this URL is decided already")
    _record(session, case_id, actor, AssessmentKind.GRADE, cls, fields, policy)
    target = f"case:{case_id}"
    details: dict[str, Any] = {
        "level": LEVEL,
        "classification": cls.code,
        "scheme": policy.scheme.name,
        **fields,
    }
    return four_eyes_step(
        session,
        review,
        cls,
        actor.name,
        target,
        details,
        agreeing=lambda: {
            d.user_id
            for d in decisions_of(session, case_id)
            if d.kind == AssessmentKind.GRADE and d.classification == cls.code
        },
        required=policy.confirmations_required,
        decide=lambda: _settle(session, case, review, cls, actor.name),
    )


def resolve(
    session: Session,
    case_id: int,
    actor: Actor,
    code: str,
    values: dict[str, str],
    policy: AssessmentPolicy,
) -> GradeOutcome:
    """A supervisor who did not grade the URL settles the analysts' disagreement."""
    cls, fields = policy.scheme.validate(code, values)
    case = session.get(Case, case_id)
    review = session.get(UrlReview, case_id)
    if case is None:
        raise NotFoundError(f"no case {case_id}")
    if review is None or review.state != ReviewState.DISPUTED:
        raise AssessmentError("this URL is not disputed")
    if any(d.user_id == actor.user_id for d in decisions_of(session, case_id)):
        raise AssessmentError("you graded this URL yourself; another supervisor must decide")
    _record(session, case_id, actor, AssessmentKind.SUPERVISOR, cls, fields, policy)
    audit.record(
        session,
        actor.name,
        AuditAction.ASSESSMENT_RESOLVE,
        f"case:{case_id}",
        {"level": LEVEL, "classification": cls.code, "scheme": policy.scheme.name, **fields},
    )
    return _settle(session, case, review, cls, actor.name)


def _settle(
    session: Session, case: Case, review: UrlReview, cls: Classification, actor: str
) -> GradeOutcome:
    review.state = ReviewState.DECIDED
    review.classification = cls.code
    review.illegal = cls.illegal
    review.decided_at = db.now(session)
    session.flush()
    if AWAITING_ASSESSMENT(case):
        reason = f"URL-level decision: {cls.code}"
        target = CaseStatus.ASSESSED if cls.illegal else CaseStatus.CLOSED
        move(session, case, target, actor=actor, reason=reason)
    return GradeOutcome(ReviewState.DECIDED)


def view_for(
    session: Session, case_id: int, user_id: int, *, can_resolve: bool = False
) -> UrlDecisionView:
    """What this user may see and do about the case's URL-level decision."""
    case = session.get(Case, case_id)
    if case is None:
        raise NotFoundError(f"no case {case_id}")
    review = session.get(UrlReview, case_id)
    state = review.state if review is not None else None
    mine = any(d.user_id == user_id for d in decisions_of(session, case_id))
    has_items = _has_items(session, case_id)
    waiting = AWAITING_ASSESSMENT(case) and not has_items
    open_states = (None, ReviewState.OPEN, ReviewState.CONFIRMING)
    return UrlDecisionView(
        state=state.value if state else None,
        may_decide=waiting and not mine and state in open_states,
        may_resolve=can_resolve and not mine and state == ReviewState.DISPUTED,
        classification=review.classification if review and state == ReviewState.DECIDED else None,
        has_items=has_items,
    )


@dataclass(frozen=True)
class UrlDispute:
    """A URL the analysts disagreed on, with every grade (for the supervisor)."""

    case_id: int
    canonical_url: str
    decisions: list[UrlDecision]


def disputes(session: Session, *, limit: int = 100) -> list[UrlDispute]:
    """Disputed URL-level decisions, oldest first."""
    rows = session.execute(
        select(UrlReview.case_id, Case.canonical_url)
        .join(Case, Case.id == UrlReview.case_id)
        .where(UrlReview.state == ReviewState.DISPUTED)
        .order_by(UrlReview.queued_at, UrlReview.case_id)
        .limit(limit)
    ).all()
    return [UrlDispute(r.case_id, r.canonical_url, decisions_of(session, r.case_id)) for r in rows]
