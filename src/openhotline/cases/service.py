"""Case lifecycle use cases: move a case through the transition table, record events.

Services never commit: the caller owns the transaction.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from openhotline import db
from openhotline.cases.lifecycle import transition_for
from openhotline.cases.models import Case, CaseEvent, CaseEventKind, CaseStatus

# The milestone each target status stamps the first time a case reaches it.
MILESTONES: dict[CaseStatus, str] = {
    CaseStatus.ACTIONED: "actioned_at",
    CaseStatus.REMOVED: "removed_at",
    CaseStatus.CLOSED: "closed_at",
}
# Reaching either of these means an analyst (or a bank) has decided on the case.
ASSESSED_MILESTONE = frozenset({CaseStatus.ASSESSED, CaseStatus.CLOSED})


def move(
    session: Session,
    case: Case,
    to: CaseStatus,
    *,
    actor: str | None,
    reason: str | None = None,
) -> CaseEvent:
    """Move a case along the transition table, stamp its milestones and record the event.

    Raises IllegalTransitionError (a ConflictError) and changes nothing when the table does
    not allow the move.
    """
    transition_for(case, to)
    now = db.now(session)
    event = CaseEvent(
        case_id=case.id,
        at=now,
        kind=CaseEventKind.STATUS,
        from_status=case.status,
        to_status=to,
        actor=actor,
        detail=reason,
    )
    if to in ASSESSED_MILESTONE and case.first_assessed_at is None:
        case.first_assessed_at = now
    milestone = MILESTONES.get(to)
    if milestone and getattr(case, milestone) is None:
        setattr(case, milestone, now)
    case.status = to
    case.updated_at = now
    session.add(event)
    session.flush()
    return event


def record_event(
    session: Session,
    case_id: int,
    kind: CaseEventKind,
    *,
    actor: str | None = None,
    detail: str | None = None,
) -> CaseEvent:
    """Append a timestamped event that is not a status change (capture, notice, trace...)."""
    if kind is CaseEventKind.STATUS:
        raise ValueError("status events are written by move(), never directly")
    event = CaseEvent(case_id=case_id, at=db.now(session), kind=kind, actor=actor, detail=detail)
    session.add(event)
    session.flush()
    return event
