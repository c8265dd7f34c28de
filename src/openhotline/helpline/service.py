"""Helpline use cases: record contacts, escalate, decide, hand off to the hotline.

Services never commit: the caller owns the transaction. Audit entries carry codes and ids,
never notes or identifying details.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from openhotline import db
from openhotline.audit import service as audit
from openhotline.audit.models import AuditAction
from openhotline.errors import ConflictError, InvalidError
from openhotline.helpline import resources
from openhotline.helpline.crypto import FieldCipher
from openhotline.helpline.models import (
    ContactCategory,
    Escalation,
    EscalationStatus,
    HelplineContact,
)
from openhotline.helpline.schemas import ChildContactIn, ContactBase, PreventionContactIn
from openhotline.helpline.taxonomy import MODES, Taxonomy
from openhotline.reporting import service as reporting
from openhotline.reporting.models import Report
from openhotline.reporting.schemas import ReportIn

SCHEMA_OF_MODE: dict[str, type[ContactBase]] = {
    "child": ChildContactIn,
    "prevention": PreventionContactIn,
}
# Agencies a supervisor may decide to disclose to (referral codes of the taxonomy).
DISCLOSURE_TARGETS = ("police", "social_services", "health", "other_helpline")


class ContactRejectedError(InvalidError):
    """Input that cannot be recorded; the message and details are safe to show."""


class HelplineConflictError(ConflictError):
    """An action not allowed in the contact's current state (e.g. escalation pending)."""


@dataclass(frozen=True)
class ContactDetails:
    """The decrypted details of a contact (empty once anonymised)."""

    notes: str = ""
    caller_name: str = ""
    caller_contact: str = ""


def period_of(at: datetime) -> str:
    """Return the 'YYYY-MM' period of a timestamp."""
    return f"{at.year:04d}-{at.month:02d}"


def _ctx(contact: HelplineContact, field: str) -> str:
    return f"helpline-contact:{contact.ref}:{field}"


def check_codes(data: ContactBase, mode: str, taxonomy: Taxonomy) -> list[str]:
    """Return one 'field: problem' line per code that the taxonomy or the mode refuses."""
    problems: list[str] = []
    if data.channel not in taxonomy.channels:
        problems.append(f"channel: unknown code {data.channel!r}")
    if data.contact_type not in taxonomy.contact_types_for(mode):
        problems.append(f"contact_type: {data.contact_type!r} is not a {mode} helpline type")
    if data.outcome not in taxonomy.outcomes:
        problems.append(f"outcome: unknown code {data.outcome!r}")
    for field, allowed in (
        ("age_band", taxonomy.age_bands),
        ("gender", taxonomy.genders),
        ("region", taxonomy.regions),
    ):
        value = getattr(data, field)
        if value is not None and value not in allowed:
            problems.append(f"{field}: unknown code {value!r}")
    problems += [
        f"categories: unknown code {c!r}" for c in data.categories if c not in taxonomy.categories
    ]
    problems += [
        f"referrals: unknown code {r!r}" for r in data.referrals if r not in taxonomy.referrals
    ]
    return problems


def validate_contact(raw: Mapping[str, object], mode: str) -> ContactBase:
    """Validate raw input against the mode's shape (pydantic errors propagate)."""
    if mode not in MODES:
        raise ContactRejectedError(f"unknown helpline mode {mode!r}")
    return SCHEMA_OF_MODE[mode].model_validate(raw)


def record_contact(
    session: Session,
    data: ContactBase,
    *,
    mode: str,
    counsellor: str,
    cipher: FieldCipher,
    taxonomy: Taxonomy,
    at: datetime | None = None,
) -> HelplineContact:
    """Record one contact; escalate it when a child is at immediate risk."""
    if mode not in MODES or type(data) is not SCHEMA_OF_MODE[mode]:
        raise ContactRejectedError(f"input shape does not match the {mode} helpline")
    problems = check_codes(data, mode, taxonomy) + resources.check_picked(session, data.resources)
    if problems:
        raise ContactRejectedError("invalid contact", problems)
    when = at or db.now(session)
    contact = HelplineContact(
        ref=secrets.token_hex(16),
        mode=mode,
        contact_at=when,
        period=period_of(when),
        channel=data.channel,
        contact_type=data.contact_type,
        age_band=data.age_band or None,
        gender=data.gender or None,
        region=data.region or None,
        outcome=data.outcome,
        referrals=",".join(dict.fromkeys(data.referrals)),
        immediate_risk=data.immediate_risk,
        counsellor=counsellor,
    )
    if data.notes:
        contact.notes_enc = cipher.encrypt(data.notes, _ctx(contact, "notes"))
    if isinstance(data, ChildContactIn) and (data.caller_name or data.caller_contact):
        identity = {"name": data.caller_name or "", "contact": data.caller_contact or ""}
        contact.identity_enc = cipher.encrypt(json.dumps(identity), _ctx(contact, "identity"))
    contact.categories = [ContactCategory(category=c) for c in dict.fromkeys(data.categories)]
    session.add(contact)
    session.flush()
    resources.link_resources(session, contact.id, data.resources)
    audit.record(
        session,
        f"user:{counsellor}",
        AuditAction.HELPLINE_CONTACT_RECORDED,
        f"helpline_contact:{contact.id}",
        {"mode": mode, "immediate_risk": data.immediate_risk},
    )
    if data.immediate_risk:
        escalate(session, contact, actor=f"user:{counsellor}", reason="immediate_risk")
    return contact


def read_details(contact: HelplineContact, cipher: FieldCipher) -> ContactDetails:
    """Decrypt a contact's notes and identifying details (the caller audits the view)."""
    notes = cipher.decrypt(contact.notes_enc, _ctx(contact, "notes")) if contact.notes_enc else ""
    name = reach = ""
    if contact.identity_enc:
        identity = json.loads(cipher.decrypt(contact.identity_enc, _ctx(contact, "identity")))
        name, reach = identity.get("name", ""), identity.get("contact", "")
    return ContactDetails(notes=notes, caller_name=name, caller_contact=reach)


def pending_escalation(contact: HelplineContact) -> Escalation | None:
    """Return the contact's undecided escalation, if any."""
    return next((e for e in contact.escalations if e.status == EscalationStatus.PENDING), None)


def escalate(session: Session, contact: HelplineContact, *, actor: str, reason: str) -> Escalation:
    """Put a contact in the supervisors' escalation queue (once while pending) and audit it."""
    if contact.anonymised_at is not None:
        raise HelplineConflictError("this contact has been anonymised")
    existing = pending_escalation(contact)
    if existing is not None:
        return existing
    escalation = Escalation(
        contact=contact, status=EscalationStatus.PENDING, raised_by=actor.split(":", 1)[-1]
    )
    session.add(escalation)
    session.flush()
    audit.record(
        session,
        actor,
        AuditAction.HELPLINE_ESCALATION_RAISED,
        f"helpline_escalation:{escalation.id}",
        {"contact_id": contact.id, "reason": reason},
    )
    return escalation


def decide_escalation(
    session: Session,
    escalation: Escalation,
    *,
    decision: str,
    disclose_to: str | None,
    note: str,
    actor: str,
    cipher: FieldCipher,
) -> Escalation:
    """Record a supervisor's decision (disclose to an agency, or not) and audit it."""
    if escalation.status != EscalationStatus.PENDING:
        raise HelplineConflictError("this escalation has already been decided")
    if decision == EscalationStatus.DISCLOSE:
        if disclose_to not in DISCLOSURE_TARGETS:
            raise ContactRejectedError(
                "choose who to disclose to",
                [f"disclose_to: one of {', '.join(DISCLOSURE_TARGETS)}"],
            )
    elif decision == EscalationStatus.NO_DISCLOSURE:
        disclose_to = None
    else:
        raise ContactRejectedError("decision must be 'disclose' or 'no_disclosure'")
    if len(note) > 2000:
        raise ContactRejectedError("note: at most 2000 characters")
    escalation.status = EscalationStatus(decision)
    escalation.disclose_to = disclose_to
    escalation.decided_by = actor.split(":", 1)[-1]
    escalation.decided_at = db.now(session)
    if note:
        escalation.decision_note_enc = cipher.encrypt(note, f"helpline-escalation:{escalation.id}")
    audit.record(
        session,
        actor,
        AuditAction.HELPLINE_ESCALATION_DECIDED,
        f"helpline_escalation:{escalation.id}",
        {"contact_id": escalation.contact_id, "decision": decision, "disclose_to": disclose_to},
    )
    return escalation


def disclosure_sheet(
    session: Session, escalation: Escalation, *, actor: str, cipher: FieldCipher
) -> tuple[HelplineContact, ContactDetails]:
    """Return what may be shared with the agency, only after a 'disclose' decision (audited)."""
    if escalation.status != EscalationStatus.DISCLOSE:
        raise HelplineConflictError("nothing may leave the helpline without a 'disclose' decision")
    contact = escalation.contact
    details = read_details(contact, cipher)
    audit.record(
        session,
        actor,
        AuditAction.HELPLINE_DISCLOSURE_VIEWED,
        f"helpline_escalation:{escalation.id}",
        {"contact_id": contact.id, "disclose_to": escalation.disclose_to},
    )
    return contact, details


def hand_off(
    session: Session,
    contact: HelplineContact,
    *,
    urls: list[str],
    consent: bool,
    actor: str,
    limits: reporting.IntakeLimits | None = None,
) -> str:
    """Turn a contact into a hotline report (caller's consent needed); return its receipt."""
    if contact.report_id is not None:
        existing = session.get(Report, contact.report_id)
        if existing is not None:
            return existing.receipt
    if contact.anonymised_at is not None:
        raise HelplineConflictError("this contact has been anonymised")
    if not consent:
        raise ContactRejectedError("the caller's consent is needed for a hand-off")
    if pending_escalation(contact) is not None:
        raise HelplineConflictError("waiting for a supervisor's safeguarding decision")
    try:
        data = ReportIn(
            urls=urls,
            description="Referred by a helpline counsellor with the caller's consent.",
            child_in_danger=contact.immediate_risk,
            external_id=f"contact-{contact.ref}",
        )
    except ValueError as exc:
        raise ContactRejectedError("enter at least one URL") from exc
    receipt = reporting.submit_report(session, data, source="helpline", limits=limits)
    report = session.execute(select(Report).where(Report.receipt == receipt)).scalar_one()
    contact.report_id = report.id
    contact.handed_off = True
    refs = [r for r in contact.referrals.split(",") if r]
    contact.referrals = ",".join(dict.fromkeys([*refs, "hotline"]))
    audit.record(
        session,
        actor,
        AuditAction.HELPLINE_HANDOFF,
        f"helpline_contact:{contact.id}",
        {"report_id": report.id, "urls": len(data.urls)},
    )
    return receipt


def contact_of_report(session: Session, report: Report) -> HelplineContact | None:
    """Follow a hotline report back to the helpline contact it came from."""
    if report.source != "helpline" or not (report.external_id or "").startswith("contact-"):
        return None
    ref = (report.external_id or "").removeprefix("contact-")
    return session.execute(
        select(HelplineContact).where(HelplineContact.ref == ref)
    ).scalar_one_or_none()


def list_contacts(
    session: Session, *, counsellor: str | None = None, limit: int = 50
) -> list[HelplineContact]:
    """Newest contacts first; only the counsellor's own when counsellor is given."""
    query = select(HelplineContact).order_by(HelplineContact.id.desc()).limit(limit)
    if counsellor is not None:
        query = query.where(HelplineContact.counsellor == counsellor)
    return list(session.execute(query).scalars().all())


def list_escalations(session: Session, status: str = "pending") -> list[Escalation]:
    """Escalations with a status, oldest first (the supervisors' queue)."""
    query = select(Escalation).where(Escalation.status == status).order_by(Escalation.id)
    return list(session.execute(query).scalars().all())
