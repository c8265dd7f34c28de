"""Helpline services on a real database: recording, encryption, escalation, hand-off."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from openhotline.audit import service as audit
from openhotline.audit.models import AuditEntry
from openhotline.db import transaction
from openhotline.helpline import service
from openhotline.helpline.crypto import CipherError, FieldCipher
from openhotline.helpline.models import EscalationStatus, HelplineContact
from openhotline.helpline.schemas import PreventionContactIn
from openhotline.reporting import service as reporting
from openhotline.reporting.models import Report
from tests.helpline.helpers import TAXONOMY, child_input, cipher, prevention_input, record


def _actions(session: Session) -> list[str]:
    return [e.action for e in session.execute(select(AuditEntry).order_by(AuditEntry.id)).scalars()]


def test_child_contact_is_recorded_with_encrypted_notes_and_identity(
    session_factory: sessionmaker[Session],
) -> None:
    with transaction(session_factory) as s:
        c = record(s, child_input(caller_name="Test Name 42", caller_contact="000-TEST"))
        cid = c.id
    with transaction(session_factory) as s:
        raw = s.execute(
            text("SELECT notes_enc, identity_enc FROM helpline_contacts WHERE id = :i"), {"i": cid}
        ).one()
        assert b"synthetic note" not in bytes(raw.notes_enc)
        assert b"Test Name" not in bytes(raw.identity_enc)
        contact = s.get(HelplineContact, cid)
        assert contact is not None
        details = service.read_details(contact, cipher())
        assert details.notes == "synthetic note 0001"
        assert (details.caller_name, details.caller_contact) == ("Test Name 42", "000-TEST")
        assert sorted(x.category for x in contact.categories) == [
            "mental_health",
            "online_sexual_exploitation",
        ]
        assert "helpline.contact.recorded" in _actions(s)
        assert audit.verify(s).ok
        # Audit details carry codes only, never notes or identity.
        assert not any("Test Name" in e.details for e in s.execute(select(AuditEntry)).scalars())


def test_wrong_key_or_moved_ciphertext_fails(session_factory: sessionmaker[Session]) -> None:
    with transaction(session_factory) as s:
        a = record(s, child_input(notes="note a"))
        b = record(s, child_input(notes="note b"))
        with pytest.raises(CipherError):
            service.read_details(a, FieldCipher(bytes(32)))
        b.notes_enc = a.notes_enc  # a value copied onto another row does not decrypt
        with pytest.raises(CipherError):
            service.read_details(b, cipher())


@pytest.mark.parametrize(
    "extra",
    [
        {"caller_name": "Test Name"},
        {"caller_contact": "000-TEST"},
        {"phone": "000"},
        {"email": "a@example.test"},
        {"address": "1 Test Street"},
    ],
)
def test_prevention_shape_refuses_identifying_fields(extra: dict[str, str]) -> None:
    with pytest.raises(ValidationError) as err:
        service.validate_contact(prevention_input(**extra), "prevention")
    assert "extra_forbidden" in str(err.value.errors())
    assert not {"caller_name", "caller_contact"} & set(PreventionContactIn.model_fields)


def test_prevention_contact_stores_no_identity(session_factory: sessionmaker[Session]) -> None:
    with transaction(session_factory) as s:
        c = record(s, prevention_input(), "prevention")
        assert c.identity_enc is None and c.mode == "prevention"


def test_child_shape_cannot_be_recorded_as_prevention(
    session_factory: sessionmaker[Session],
) -> None:
    data = service.validate_contact(child_input(caller_name="X"), "child")
    with transaction(session_factory) as s, pytest.raises(service.ContactRejectedError):
        service.record_contact(
            s, data, mode="prevention", counsellor="c", cipher=cipher(), taxonomy=TAXONOMY
        )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("channel", "pigeon"),
        ("contact_type", "adult_about_own_behaviour"),  # a prevention type in child mode
        ("categories", ["nope"]),
        ("age_band", "200-300"),
        ("gender", "x"),
        ("region", "atlantis"),
        ("outcome", "?"),
        ("referrals", ["nowhere"]),
    ],
)
def test_unknown_codes_are_refused_with_the_field_named(
    session_factory: sessionmaker[Session], field: str, value: object
) -> None:
    with transaction(session_factory) as s:
        with pytest.raises(service.ContactRejectedError) as err:
            record(s, child_input(**{field: value}))
        assert any(d.startswith(f"{field}:") for d in err.value.detail)
        assert s.execute(select(HelplineContact)).first() is None


def test_immediate_risk_escalates_and_decision_is_audited(
    session_factory: sessionmaker[Session],
) -> None:
    with transaction(session_factory) as s:
        c = record(s, child_input(immediate_risk=True))
        esc = service.pending_escalation(c)
        assert esc is not None and esc.status == EscalationStatus.PENDING
        # Nothing leaves before the decision: no disclosure sheet, no hand-off.
        with pytest.raises(service.HelplineConflictError):
            service.disclosure_sheet(s, esc, actor="user:sam", cipher=cipher())
        with pytest.raises(service.HelplineConflictError):
            service.hand_off(s, c, urls=["https://example.test/a"], consent=True, actor="u")
        assert service.escalate(s, c, actor="user:cora", reason="again") is esc  # once
        with pytest.raises(service.ContactRejectedError):
            service.decide_escalation(
                s,
                esc,
                decision="disclose",
                disclose_to=None,
                note="",
                actor="user:sam",
                cipher=cipher(),
            )
        service.decide_escalation(
            s,
            esc,
            decision="disclose",
            disclose_to="social_services",
            note="synthetic reason",
            actor="user:sam",
            cipher=cipher(),
        )
        _contact, details = service.disclosure_sheet(s, esc, actor="user:sam", cipher=cipher())
        assert details.notes == "synthetic note 0001"
        with pytest.raises(service.HelplineConflictError):
            service.decide_escalation(
                s,
                esc,
                decision="no_disclosure",
                disclose_to=None,
                note="",
                actor="user:sam",
                cipher=cipher(),
            )
        actions = _actions(s)
        for action in (
            "helpline.escalation.raised",
            "helpline.escalation.decided",
            "helpline.disclosure.viewed",
        ):
            assert action in actions
        decided = [
            audit.details_of(e)
            for e in s.execute(select(AuditEntry)).scalars()
            if e.action == "helpline.escalation.decided"
        ]
        assert decided == [
            {"contact_id": c.id, "decision": "disclose", "disclose_to": "social_services"}
        ]


def test_no_disclosure_decision_keeps_everything_in(session_factory: sessionmaker[Session]) -> None:
    with transaction(session_factory) as s:
        c = record(s, child_input(immediate_risk=True))
        esc = service.pending_escalation(c)
        assert esc is not None
        service.decide_escalation(
            s,
            esc,
            decision="no_disclosure",
            disclose_to="police",
            note="",
            actor="user:sam",
            cipher=cipher(),
        )
        assert esc.disclose_to is None
        with pytest.raises(service.HelplineConflictError):
            service.disclosure_sheet(s, esc, actor="user:sam", cipher=cipher())


def test_hand_off_makes_a_linked_hotline_report(session_factory: sessionmaker[Session]) -> None:
    with transaction(session_factory) as s:
        c = record(s, child_input())
        with pytest.raises(service.ContactRejectedError):
            service.hand_off(s, c, urls=["https://example.test/x"], consent=False, actor="u")
        with pytest.raises(service.ContactRejectedError):
            service.hand_off(s, c, urls=[], consent=True, actor="u")
        with pytest.raises(reporting.ReportRejectedError):
            service.hand_off(s, c, urls=["not a url"], consent=True, actor="u")
        receipt = service.hand_off(
            s,
            c,
            urls=["https://example.test/a", "https://example.test/b"],
            consent=True,
            actor="user:cora",
        )
        # Linked both ways, and idempotent.
        report = s.execute(select(Report).where(Report.receipt == receipt)).scalar_one()
        assert report.source == "helpline" and c.report_id == report.id and c.handed_off
        assert service.contact_of_report(s, report) is c
        assert "hotline" in c.referrals.split(",")
        assert (
            service.hand_off(s, c, urls=["https://example.test/z"], consent=True, actor="u")
            == receipt
        )
        assert reporting.public_status(s, receipt) is not None
        assert s.execute(select(Report)).scalars().all() == [report]
        entry = [
            e for e in s.execute(select(AuditEntry)).scalars() if e.action == "helpline.handoff"
        ]
        assert json.loads(entry[0].details) == {"report_id": report.id, "urls": 2}
