"""Federation use cases: refer a case, receive referrals and status updates, the outbox.

Services never commit: the caller owns the transaction. Sending happens in tasks.py.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from openhotline import db
from openhotline.assessment.summary import item_assessment
from openhotline.audit.models import AuditAction
from openhotline.audit.service import canonical_json, record
from openhotline.cases.models import Case, CaseEventKind, CaseStatus
from openhotline.cases.service import record_event
from openhotline.config import Settings
from openhotline.errors import ConflictError, DomainError, ErrorKind, InvalidError, NotFoundError
from openhotline.federation.models import STATUS_RANK, OutboxMessage, Referral, ReferralStatus
from openhotline.federation.schemas import ReferralBody, StatusBody
from openhotline.matching import service as matching
from openhotline.matching.models import HashType
from openhotline.matching.policy import BankSource
from openhotline.media.models import CaseItem, Item
from openhotline.reporting.models import Report, ReportURL
from openhotline.reporting.schemas import ReportIn
from openhotline.reporting.service import ReportRejectedError, submit_report
from openhotline.takedown.models import Referral as TakedownReferral
from openhotline.takedown.models import ReferralKind
from openhotline.takedown.models import ReferralStatus as TakedownReferralStatus
from openhotline.trace.service import latest_trace


class FederationError(DomainError):
    """Every error federation code raises on purpose (catch this); raise a kind below."""


class FederationInvalidError(FederationError, InvalidError):
    """Bad input or a refused operation; the message is safe to show."""

    kind = ErrorKind.INVALID


class FederationNotFoundError(FederationError, NotFoundError):
    """The thing named does not exist."""

    kind = ErrorKind.NOT_FOUND


class FederationConflictError(FederationError, ConflictError):
    """The request clashes with the current state."""

    kind = ErrorKind.CONFLICT


# What the receiving side reports back, from its own case status.
STATUS_OF_CASE: dict[CaseStatus, ReferralStatus] = {
    CaseStatus.ASSESSED: ReferralStatus.ASSESSED,
    CaseStatus.ACTIONED: ReferralStatus.NOTICE_SENT,
    CaseStatus.REMOVED: ReferralStatus.REMOVED,
    CaseStatus.CLOSED: ReferralStatus.CLOSED,
}


def own_country(settings: Settings) -> str:
    """The country this hotline speaks for (the first of own_countries)."""
    return settings.own_countries[0].upper()


def _enqueue(session: Session, peer: str, kind: str, body: dict[str, Any]) -> OutboxMessage:
    msg = OutboxMessage(
        message_id=body["message_id"],
        peer=peer,
        kind=kind,
        body=canonical_json(body),
        next_attempt_at=db.now(session),
    )
    session.add(msg)
    session.flush()
    return msg


def refer_case(
    session: Session,
    case_id: int,
    country: str,
    settings: Settings,
    *,
    actor: str,
    classification: dict[str, Any] | None = None,
    trace: dict[str, Any] | None = None,
) -> Referral:
    """Queue a referral of a case to the peer hotline of `country` (once per case and peer)."""
    country = country.upper()
    if country not in settings.federation_peers:
        raise FederationInvalidError(f"no partner hotline configured for {country}")
    case = session.get(Case, case_id)
    if case is None:
        raise FederationNotFoundError(f"no case {case_id}")
    existing = session.execute(
        select(Referral).where(
            Referral.direction == "out", Referral.case_id == case_id, Referral.peer == country
        )
    ).scalar_one_or_none()
    if existing is not None:
        return existing
    if trace is None:
        trace = trace_of(session, case_id)
    items = session.execute(
        select(Item.id, Item.sha256, Item.md5, Item.sha1, Item.pdq)
        .join(CaseItem, CaseItem.item_id == Item.id)
        .where(CaseItem.case_id == case_id)
        .order_by(Item.sha256)
    ).all()
    # Each item's assessment travels with its hashes (automatic referrals included), so the
    # peer's analysts need not view the same material again; confirmers stay here.
    item_rows = [
        {"sha256": sha, "md5": m, "sha1": h, "pdq": p, **_travelling(session, item_id)}
        for item_id, sha, m, h, p in items
    ]
    if classification is None:
        classification = _case_classification(item_rows)
    body = ReferralBody(
        type="referral",
        message_id=str(uuid.uuid4()),
        referral_id=str(uuid.uuid4()),
        sender=own_country(settings),
        recipient=country,
        sent_at=db.now(session).isoformat(),
        urls=[case.canonical_url],
        trace=trace,
        classification=classification,
        items=item_rows,
        media_included=False,
    ).model_dump(mode="json")
    referral = Referral(
        referral_id=body["referral_id"],
        direction="out",
        peer=country,
        case_id=case_id,
        status=ReferralStatus.PENDING,
        payload=canonical_json(body),
    )
    session.add(referral)
    _enqueue(session, country, "referral", body)
    record_event(session, case_id, CaseEventKind.REFERRAL_QUEUED, actor=actor, detail=country)
    record(
        session,
        actor,
        AuditAction.REFERRAL_SEND,
        f"case:{case_id}",
        {"to": country, "id": body["referral_id"]},
    )
    return referral


def _travelling(session: Session, item_id: int) -> dict[str, Any]:
    """The parts of an item's decided assessment a peer hotline receives."""
    a = item_assessment(session, item_id)
    if a.get("state") != "decided":
        return {}
    keys = ("scheme", "classification", "illegal", "automatic", "age_band")
    return {k: a.get(k) for k in keys}


def _case_classification(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The case's class for the referral: the most common illegal class among its items."""
    graded = Counter(
        (r["scheme"], r["classification"]) for r in rows if r.get("illegal") and r.get("scheme")
    )
    if not graded:
        return None
    (scheme, code), _n = graded.most_common(1)[0]
    return {"scheme": scheme, "label": code}


def trace_of(session: Session, case_id: int) -> dict[str, Any] | None:
    """The latest hosting trace of a case as plain data (None if never traced)."""
    row = latest_trace(session, case_id)
    if row is None:
        return None
    fields = ("host", "ip", "country", "asn", "as_org", "network", "network_name", "cdn")
    out: dict[str, Any] = {f: getattr(row, f) for f in fields}
    out["abuse_email"] = row.abuse_email
    out["traced_at"] = row.traced_at.isoformat()
    return out


def dispatch_takedown_referrals(session: Session, settings: Settings) -> int:
    """Send the partner-hotline referrals that takedown routing created (pending ones)."""
    pending = session.execute(
        select(TakedownReferral).where(
            TakedownReferral.kind == ReferralKind.PARTNER_HOTLINE,
            TakedownReferral.status == TakedownReferralStatus.PENDING,
        )
    ).scalars()
    sent = 0
    for row in pending:
        country = (row.country or "").upper()
        if country not in settings.federation_peers:
            row.detail = f"no federation peer configured for {country or '?'}"
            continue
        referral = refer_case(session, row.case_id, country, settings, actor="federation")
        row.status = TakedownReferralStatus.SENT
        row.sent_at = db.now(session)
        row.detail = f"federation referral {referral.referral_id}"
        sent += 1
    return sent


def receive_referral(
    session: Session, body: ReferralBody, settings: Settings, *, actor: str
) -> tuple[Referral, bool]:
    """Store a referral from a peer as a report and case; a repeat returns the first one."""
    if body.recipient != own_country(settings):
        raise FederationInvalidError(
            f"this hotline is {own_country(settings)}, not {body.recipient}"
        )
    existing = session.execute(
        select(Referral).where(Referral.direction == "in", Referral.referral_id == body.referral_id)
    ).scalar_one_or_none()
    if existing is not None:
        if existing.peer != body.sender:
            raise FederationConflictError("referral id already used by another hotline")
        return existing, False
    if body.media_included and not settings.federation_allow_media:
        raise FederationInvalidError("this hotline does not accept media in referrals")
    text = f"Referral {body.referral_id} from partner hotline {body.sender}."
    if body.classification is not None:
        text += f" Classification: {body.classification.scheme} {body.classification.label or ''}."
    try:
        receipt = submit_report(
            session,
            ReportIn(urls=body.urls, description=text, external_id=body.referral_id),
            source=f"hotline:{body.sender}",
        )
    except (ReportRejectedError, ValueError) as exc:
        raise FederationInvalidError(f"referral rejected: {exc}") from exc
    case_id = session.execute(
        select(ReportURL.case_id)
        .join(Report, Report.id == ReportURL.report_id)
        .where(Report.receipt == receipt)
        .order_by(ReportURL.position)
        .limit(1)
    ).scalar_one()
    referral = Referral(
        referral_id=body.referral_id,
        direction="in",
        peer=body.sender,
        case_id=case_id,
        status=ReferralStatus.RECEIVED,
        reported_status=ReferralStatus.RECEIVED,
        payload=canonical_json(body.model_dump(mode="json")),
    )
    session.add(referral)
    session.flush()
    record_event(session, case_id, CaseEventKind.REFERRAL_RECEIVED, actor=actor, detail=body.sender)
    bank_referred_hashes(session, body)
    record(
        session, actor, AuditAction.REFERRAL_RECEIVE, f"case:{case_id}", {"id": body.referral_id}
    )
    return referral, True


def referral_bank_name(sender: str) -> str:
    """The bank that holds what a peer hotline referred, graded in the peer's scheme."""
    return f"hotline-{sender}"


def bank_referred_hashes(session: Session, body: ReferralBody) -> int:
    """Put a referral's graded item hashes into the sender's bank; return hashes banked.

    The bank's policy then decides what a capture of the same material does here: by
    default the match is a hint carrying the sender's grade (review_with_hint); an admin
    who trusts the sender and maps its classes lets it assess automatically.
    """
    graded = [i for i in body.items if i.classification and i.illegal]
    if not graded:
        return 0
    name = referral_bank_name(body.sender)
    try:
        bank = matching.get_bank(session, name)
    except matching.BankNotFoundError:
        bank = matching.create_bank(
            session,
            name,
            f"Items referred by partner hotline {body.sender}",
            source=BankSource.PARTNER,
        )
    added = 0
    for item in graded:
        label = f"{item.scheme}:{item.classification}" if item.scheme else item.classification
        hashes = [(HashType.SHA256, item.sha256), (HashType.MD5, item.md5)]
        hashes += [(HashType.SHA1, item.sha1), (HashType.PDQ, item.pdq)]
        for hash_type, value in hashes:
            if value:
                matching.add_entry(
                    session, bank, hash_type, value, source=f"hotline:{body.sender}",
                    classification=label or "", added_by=f"referral:{body.referral_id}",
                )  # fmt: skip
                added += 1
    bank.last_synced_at = db.now(session)
    return added


def receive_status(session: Session, body: StatusBody, *, actor: str) -> Referral:
    """Apply a peer's status update to our outbound referral (never moves backwards)."""
    referral = session.execute(
        select(Referral).where(
            Referral.direction == "out", Referral.referral_id == body.referral_id
        )
    ).scalar_one_or_none()
    if referral is None or referral.peer != body.sender:
        raise FederationNotFoundError(f"no referral {body.referral_id} to {body.sender}")
    new = ReferralStatus(body.status)
    if STATUS_RANK[new] > STATUS_RANK[referral.status]:
        referral.status = new
        referral.updated_at = db.now(session)
        record_event(
            session,
            referral.case_id,
            CaseEventKind.REFERRAL_STATUS,
            actor=actor,
            detail=f"{body.sender}: {new}",
        )
        record(
            session, actor, AuditAction.REFERRAL_STATUS, f"case:{referral.case_id}", {"status": new}
        )
    return referral


def mark_received(session: Session, referral_id: str) -> None:
    """The peer accepted our referral (2xx): it is at least `received` there."""
    referral = session.execute(
        select(Referral).where(Referral.direction == "out", Referral.referral_id == referral_id)
    ).scalar_one_or_none()
    if referral is not None and referral.status == ReferralStatus.PENDING:
        referral.status = ReferralStatus.RECEIVED
        referral.updated_at = db.now(session)


def sync_statuses(session: Session, settings: Settings) -> int:
    """Queue a status update to the sender of every inbound referral whose case moved on."""
    rows = session.execute(
        select(Referral, Case.status)
        .join(Case, Case.id == Referral.case_id)
        .where(Referral.direction == "in")
    ).all()
    queued = 0
    for referral, case_status in rows:
        status = STATUS_OF_CASE.get(case_status)
        if status is None:
            continue
        last = referral.reported_status or ReferralStatus.RECEIVED
        if STATUS_RANK[status] <= STATUS_RANK[last]:
            continue
        body = StatusBody(
            type="status",
            message_id=str(uuid.uuid4()),
            referral_id=referral.referral_id,
            sender=own_country(settings),
            recipient=referral.peer,
            status=status,
            at=db.now(session).isoformat(),
        ).model_dump(mode="json")
        _enqueue(session, referral.peer, "status", body)
        referral.reported_status = status
        referral.status = status
        queued += 1
    return queued


def due_messages(
    session: Session, now: datetime | None = None, limit: int = 100
) -> list[OutboxMessage]:
    """Undelivered messages whose next attempt is due, oldest first."""
    now = now or db.now(session)
    return list(
        session.execute(
            select(OutboxMessage)
            .where(OutboxMessage.delivered_at.is_(None), OutboxMessage.next_attempt_at <= now)
            .order_by(OutboxMessage.id)
            .limit(limit)
        ).scalars()
    )


def mark_delivered(session: Session, msg: OutboxMessage) -> None:
    """The peer acknowledged the message."""
    msg.delivered_at = db.now(session)
    msg.attempts += 1
    msg.last_error = None
    if msg.kind == "referral":
        mark_received(session, json.loads(msg.body)["referral_id"])


def mark_failed(session: Session, msg: OutboxMessage, error: str, settings: Settings) -> None:
    """Schedule the next attempt with exponential back-off; the message is kept."""
    msg.attempts += 1
    delay = min(
        settings.federation_retry_base_seconds * 2 ** (msg.attempts - 1),
        settings.federation_retry_max_seconds,
    )
    msg.next_attempt_at = db.now(session) + timedelta(seconds=delay)
    msg.last_error = error[:1000]


def referrals_of_case(session: Session, case_id: int) -> list[Referral]:
    """Every referral (either direction) of a case."""
    return list(
        session.execute(
            select(Referral).where(Referral.case_id == case_id).order_by(Referral.id)
        ).scalars()
    )
