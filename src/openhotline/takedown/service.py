"""Takedown use cases: route a traced case, pick due notices, record sends, removal, block list.

Services never commit: the caller owns the transaction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from openhotline import db
from openhotline.audit import service as audit
from openhotline.audit.models import AuditAction
from openhotline.cases.lifecycle import AWAITING_ACTION, LISTABLE, OPEN_FOR_NOTICE
from openhotline.cases.models import Case, CaseEventKind, CaseStatus
from openhotline.cases.service import move, record_event
from openhotline.db import insert_ignore
from openhotline.errors import ConflictError, NotFoundError
from openhotline.media.models import CaseItem, Item
from openhotline.takedown.models import (
    Notice,
    NoticeSend,
    NoticeSendState,
    NoticeStatus,
    Referral,
    ReferralKind,
    ReferralStatus,
)
from openhotline.takedown.routing import RoutingRules, decide
from openhotline.trace.models import HostingTrace

ACTOR = "takedown"


def route_case(
    session: Session,
    case: Case,
    trace: HostingTrace,
    rules: RoutingRules,
    languages: dict[str, str],
) -> list[str]:
    """Create the notice and referrals the rules ask for; mark the case ACTIONED."""
    route = decide(rules, trace.country)
    done: list[str] = []
    now = db.now(session)
    for kind, destination in route.referrals:
        insert_ignore(
            session,
            Referral,
            [
                {
                    "case_id": case.id,
                    "kind": kind,
                    "destination": destination,
                    "country": trace.country,
                    "status": ReferralStatus.PENDING,
                    "created_at": now,
                    "detail": route.reason,
                }
            ],
        )
        done.append(f"referral to {destination} ({kind})")
    if route.hold_notice:
        # A police hold preserves the evidence: no retention purge touches the case or the
        # media seen at it until a supervisor lifts the hold (retention hold --lift).
        case.legal_hold = True
    if route.notice:
        if trace.abuse_email:
            lang = languages.get((trace.country or "").upper(), "en")
            status = NoticeStatus.HELD if route.hold_notice else NoticeStatus.QUEUED
            insert_ignore(
                session,
                Notice,
                [
                    {
                        "case_id": case.id,
                        "trace_id": trace.id,
                        "role": "cdn" if trace.cdn else "host",
                        "recipient": trace.abuse_email,
                        "host": case.host,
                        "country": trace.country,
                        "language": lang,
                        "status": status,
                        "attempts": 0,
                        "escalation": 0,
                        "created_at": now,
                        "next_due_at": now,
                    }
                ],
            )
            held = " (held: police first; legal hold)" if route.hold_notice else ""
            done.append(f"notice to {trace.abuse_email}{held}")
        else:
            done.append("no abuse contact: notice needs an analyst")
    detail = f"{route.reason}: " + "; ".join(done)
    record_event(session, case.id, CaseEventKind.ROUTED, actor=ACTOR, detail=detail)
    if AWAITING_ACTION(case):
        move(session, case, CaseStatus.ACTIONED, actor=ACTOR, reason=detail)
    return done


def clear_for_notice(session: Session, case_id: int, *, actor: str) -> int:
    """Police cleared a held notice ("police first"): release it now; return notices released."""
    now = db.now(session)
    released = 0
    for notice in session.execute(
        select(Notice).where(Notice.case_id == case_id, Notice.status == NoticeStatus.HELD)
    ).scalars():
        notice.status = NoticeStatus.QUEUED
        notice.next_due_at = now
        released += 1
    for ref in session.execute(
        select(Referral).where(Referral.case_id == case_id, Referral.kind == ReferralKind.POLICE)
    ).scalars():
        ref.cleared_at = ref.cleared_at or now
        if ref.decision in ("", "held"):
            # The police channel's record of it, whoever recorded the clearance.
            ref.decision = "cleared"
            ref.decided_at = now
            ref.decided_by = actor[:200]
    record_event(session, case_id, CaseEventKind.POLICE_CLEARED, actor=actor, detail=f"{released}")
    audit.record(
        session,
        actor,
        AuditAction.TAKEDOWN_POLICE_CLEARED,
        f"case:{case_id}",
        {"released": released},
    )
    return released


def due_notices(session: Session, now: datetime | None = None) -> list[Notice]:
    """Queued notices whose next send is due, for cases still open."""
    at = now or db.now(session)
    return list(
        session.execute(
            select(Notice)
            .join(Case, Case.id == Notice.case_id)
            .where(
                Notice.status == NoticeStatus.QUEUED,
                Notice.next_due_at <= at,
                Case.status.in_(OPEN_FOR_NOTICE.values),
            )
            .order_by(Notice.recipient, Notice.id)
        ).scalars()
    )


def claim_notice(session: Session, notice_id: int, lease_seconds: float) -> bool:
    """Take a due notice for sending (pushes next_due_at on), so two workers never both send."""
    now = db.now(session)
    result = session.execute(
        update(Notice)
        .where(
            Notice.id == notice_id,
            Notice.status == NoticeStatus.QUEUED,
            Notice.next_due_at <= now,
        )
        .values(next_due_at=now + timedelta(seconds=lease_seconds))
        .execution_options(synchronize_session=False)
    )
    return getattr(result, "rowcount", 0) == 1


def captured_items(session: Session, case_id: int) -> list[tuple[str, str]]:
    """(media_url, sha256) of the items captured for a case."""
    rows = session.execute(
        select(CaseItem.media_url, Item.sha256)
        .join(Item, Item.id == CaseItem.item_id)
        .where(CaseItem.case_id == case_id)
    ).all()
    return [(r.media_url or "", r.sha256) for r in rows]


def escalation_level(attempt: int, escalate_after: int) -> int:
    """0 for the first escalate_after sends, then 1, then 2 (the last step)."""
    if escalate_after <= 0:
        return 0
    return min((attempt - 1) // escalate_after, 2)


def escalation_cc(level: int, trace: HostingTrace | None, extra: list[str]) -> list[str]:
    """Who else gets the notice: the registrar from step 1, configured contacts from step 2."""
    cc: list[str] = []
    if level >= 1 and trace is not None and trace.registrar_abuse_email:
        cc.append(trace.registrar_abuse_email)
    if level >= 2:
        cc.extend(extra)
    return list(dict.fromkeys(cc))


def retarget(session: Session, notice: Notice, trace: HostingTrace) -> None:
    """Point a notice at a fresh trace (the host may have moved since the last send)."""
    notice.trace_id = trace.id
    notice.country = trace.country
    notice.role = "cdn" if trace.cdn else "host"
    if trace.abuse_email and trace.abuse_email != notice.recipient:
        record_event(
            session,
            notice.case_id,
            CaseEventKind.NOTICE_RETARGETED,
            actor=ACTOR,
            detail=f"{notice.recipient} -> {trace.abuse_email}",
        )
        notice.recipient = trace.abuse_email


@dataclass
class SendRecord:
    """What was sent for one notice in one e-mail."""

    notice_id: int
    cc: list[str]
    escalation: int
    message_id: str


def record_send(
    session: Session,
    rec: SendRecord,
    interval_hours: float,
    state: NoticeSendState = NoticeSendState.SENT,
) -> NoticeSend | None:
    """Count a sent notice and schedule the next one."""
    notice = session.get(Notice, rec.notice_id)
    if notice is None:
        return None
    now = db.now(session)
    notice.attempts += 1
    notice.escalation = rec.escalation
    notice.first_sent_at = notice.first_sent_at or now
    notice.last_sent_at = now
    notice.next_due_at = now + timedelta(hours=interval_hours)
    row = NoticeSend(
        notice_id=notice.id,
        case_id=notice.case_id,
        recipient=notice.recipient,
        cc=json.dumps(rec.cc),
        attempt=notice.attempts,
        escalation=rec.escalation,
        message_id=rec.message_id,
        sent_at=now,
        state=state,
    )
    session.add(row)
    record_event(
        session,
        notice.case_id,
        CaseEventKind.NOTICE_SENT,
        actor=ACTOR,
        detail=f"notice {notice.attempts} to {notice.recipient} (escalation {rec.escalation})",
    )
    audit.record(
        session,
        ACTOR,
        AuditAction.TAKEDOWN_NOTICE_SENT,
        f"case:{notice.case_id}",
        {"notice": notice.id, "to": notice.recipient, "cc": rec.cc, "attempt": notice.attempts},
    )
    case = session.get(Case, notice.case_id)
    if case is not None and AWAITING_ACTION(case):
        move(session, case, CaseStatus.ACTIONED, actor=ACTOR, reason="notice sent")
    return row


# Notice e-mails are sent at most once: each send is recorded (and its notice scheduled on)
# in its own transaction before the e-mail is handed to SMTP, with a Message-ID made from the
# send's id. A worker killed while the SMTP server delays its reply used to send the same
# notice 2-3 times (the send was only recorded after SMTP); now the send stays "sending",
# shows as uncertain, and an operator decides whether to send it again (resend_send).


def send_message_id(send_id: int, domain: str) -> str:
    """The Message-ID of the e-mail whose first send row has send_id (stable, unique)."""
    return f"<notice-send-{send_id}@{domain}>"


def begin_sends(
    session: Session, recs: list[SendRecord], interval_hours: float, domain: str
) -> str:
    """Record one e-mail's sends as SENDING before it goes to SMTP; return its Message-ID."""
    rows = [
        row
        for rec in recs
        if (row := record_send(session, rec, interval_hours, NoticeSendState.SENDING))
    ]
    if not rows:
        return ""
    session.flush()
    message_id = send_message_id(rows[0].id, domain)
    for row in rows:
        row.message_id = message_id
    return message_id


def finish_sends(
    session: Session, message_id: str, state: NoticeSendState, error: str | None = None
) -> int:
    """Settle one e-mail's SENDING rows as SENT, FAILED or UNCERTAIN; return how many.

    FAILED means the server refused before delivery: the attempt is taken back and the
    notice is due again at once, so the job's retry sends it.
    """
    rows = session.execute(
        select(NoticeSend).where(
            NoticeSend.message_id == message_id, NoticeSend.state == NoticeSendState.SENDING
        )
    ).scalars()
    count = 0
    for row in rows:
        count += 1
        row.state = state
        row.error = (error or "")[:500] or None
        notice = session.get(Notice, row.notice_id) if state is NoticeSendState.FAILED else None
        if notice is not None:
            notice.attempts = max(0, notice.attempts - 1)
            notice.next_due_at = db.now(session)
    return count


def uncertain_sends(session: Session, stale_seconds: float) -> list[NoticeSend]:
    """Sends that may or may not have arrived: SMTP failed mid-way, or cut off while sending."""
    cutoff = db.now(session) - timedelta(seconds=stale_seconds)
    return list(
        session.execute(
            select(NoticeSend)
            .where(
                (NoticeSend.state == NoticeSendState.UNCERTAIN)
                | ((NoticeSend.state == NoticeSendState.SENDING) & (NoticeSend.sent_at <= cutoff))
            )
            .order_by(NoticeSend.id)
        ).scalars()
    )


def resend_send(session: Session, send_id: int, stale_seconds: float, *, actor: str) -> Notice:
    """An operator's decision: send an uncertain send's notice again on the next run."""
    row = session.get(NoticeSend, send_id)
    if row is None:
        raise NotFoundError(f"no notice send {send_id}")
    if row.id not in {r.id for r in uncertain_sends(session, stale_seconds)}:
        raise ConflictError(f"send {send_id} is {row.state.value}, not uncertain")
    notice = session.get(Notice, row.notice_id)
    if notice is None or notice.status is not NoticeStatus.QUEUED:
        raise ConflictError(f"the notice of send {send_id} is no longer sent")
    row.state = NoticeSendState.RESENT
    notice.next_due_at = db.now(session)
    audit.record(
        session,
        actor,
        AuditAction.TAKEDOWN_NOTICE_RESENT,
        f"case:{notice.case_id}",
        {"notice": notice.id, "send": row.id, "message_id": row.message_id},
    )
    return notice


def mark_removed(session: Session, case: Case, detail: str) -> bool:
    """Content confirmed gone at source: case REMOVED (timestamped), notices closed."""
    if not OPEN_FOR_NOTICE(case):
        return False
    move(session, case, CaseStatus.REMOVED, actor="recheck", reason=detail)
    audit.record(
        session, "recheck", AuditAction.TAKEDOWN_REMOVED, f"case:{case.id}", {"why": detail}
    )
    now = db.now(session)
    for notice in session.execute(select(Notice).where(Notice.case_id == case.id)).scalars():
        if notice.status in (NoticeStatus.QUEUED, NoticeStatus.HELD, NoticeStatus.PAUSED):
            notice.status = NoticeStatus.DONE
            notice.closed_at = now
    return True


def host_confirmed(session: Session, notice_id: int) -> Notice | None:
    """A host followed the signed link: note it (removal is then verified by a re-check)."""
    notice = session.get(Notice, notice_id)
    if notice is None:
        return None
    if notice.host_confirmed_at is None:
        notice.host_confirmed_at = db.now(session)
        record_event(
            session,
            notice.case_id,
            CaseEventKind.HOST_CONFIRMED,
            actor=notice.recipient,
            detail="link",
        )
        audit.record(
            session,
            f"host:{notice.recipient}",
            AuditAction.TAKEDOWN_HOST_CONFIRMED,
            f"case:{notice.case_id}",
            {"notice": notice.id},
        )
    return notice


@dataclass
class CaseTakedown:
    """Everything takedown knows about one case."""

    traces: list[HostingTrace]
    notices: list[Notice]
    sends: list[NoticeSend]
    referrals: list[Referral]


def case_takedown(session: Session, case_id: int) -> CaseTakedown:
    """Traces (newest first), notices, sends and referrals of a case."""
    return CaseTakedown(
        traces=list(
            session.execute(
                select(HostingTrace)
                .where(HostingTrace.case_id == case_id)
                .order_by(HostingTrace.id.desc())
            ).scalars()
        ),
        notices=list(session.execute(select(Notice).where(Notice.case_id == case_id)).scalars()),
        sends=list(
            session.execute(
                select(NoticeSend).where(NoticeSend.case_id == case_id).order_by(NoticeSend.id)
            ).scalars()
        ),
        referrals=list(
            session.execute(select(Referral).where(Referral.case_id == case_id)).scalars()
        ),
    )


def urls_to_block(session: Session) -> list[str]:
    """Canonical URLs of confirmed-illegal cases whose content is not yet removed."""
    return list(
        session.execute(
            select(Case.canonical_url).where(Case.status.in_(LISTABLE.values)).order_by(Case.id)
        ).scalars()
    )


def cases_to_route(session: Session, limit: int = 500) -> list[int]:
    """Cases assessed illegal that have not been routed yet."""
    return list(
        session.execute(
            select(Case.id)
            .where(Case.status.in_(AWAITING_ACTION.values))
            .order_by(Case.id)
            .limit(limit)
        ).scalars()
    )


def cases_to_recheck(session: Session, limit: int = 1000) -> list[int]:
    """Actioned cases (their content may have gone since the last check)."""
    return list(
        session.execute(
            select(Case.id).where(Case.status == CaseStatus.ACTIONED).order_by(Case.id).limit(limit)
        ).scalars()
    )
