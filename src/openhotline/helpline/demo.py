"""Synthetic helpline contacts for demos: coded fields only, no notes, no identities.

Demo contacts are dated in the past (in the year's ended months, so the trend pages show
them), marked in their own table (helpline_demo_contacts) so they can be told apart and
removed, and leave one entry in the audit log for the whole load, not one per contact.
"""

from __future__ import annotations

import random
import secrets
from datetime import UTC, datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from openhotline import db
from openhotline.audit import service as audit
from openhotline.audit.models import AuditAction
from openhotline.helpline import service
from openhotline.helpline.crypto import FieldCipher
from openhotline.helpline.models import ContactCategory, Escalation, HelplineContact
from openhotline.helpline.resource_models import ContactResource, DemoContact
from openhotline.helpline.taxonomy import Taxonomy
from openhotline.helpline.trends import ended_months

DEMO_COUNSELLOR = "demo"


def load_demo_contacts(
    session: Session,
    *,
    year: int,
    count: int,
    cipher: FieldCipher,
    taxonomy: Taxonomy,
    seed: int = 1,
    actor: str = "cli",
) -> int:
    """Record count random coded contacts in the ended months of a year; return how many.

    cipher is unused (demo contacts have no notes) and kept for the callers' signature.
    """
    del cipher
    now = db.now(session)
    months = ended_months(year, now)
    if not months:
        raise service.ContactRejectedError(
            f"{year} has no ended month yet: demo contacts are dated in the past"
        )
    rng = random.Random(seed)  # noqa: S311  (reproducible synthetic data, not secrets)
    channels, ages = list(taxonomy.channels), [None, *taxonomy.age_bands]
    contacts: list[HelplineContact] = []
    for _ in range(count):
        mode = "child" if rng.random() < 0.7 else "prevention"
        raw: dict[str, object] = {
            "channel": rng.choice(channels),
            "contact_type": rng.choice(list(taxonomy.contact_types_for(mode))),
            "categories": rng.sample(list(taxonomy.categories), rng.randint(1, 2)),
            "age_band": rng.choice(ages),
            "gender": rng.choice([None, *taxonomy.genders]),
            "region": rng.choice([None, *taxonomy.regions]),
            "outcome": rng.choice(list(taxonomy.outcomes)),
        }
        data = service.validate_contact(raw, mode)
        problems = service.check_codes(data, mode, taxonomy)
        if problems:
            raise service.ContactRejectedError("invalid demo contact", problems)
        month = rng.choice(months)
        at = datetime(
            int(month[:4]), int(month[5:]), rng.randint(1, 28), rng.randint(0, 23), tzinfo=UTC
        )
        contact = HelplineContact(
            ref=secrets.token_hex(16),
            mode=mode,
            contact_at=at,
            period=service.period_of(at),
            channel=data.channel,
            contact_type=data.contact_type,
            age_band=data.age_band,
            gender=data.gender,
            region=data.region,
            outcome=data.outcome,
            referrals="",
            immediate_risk=False,
            counsellor=DEMO_COUNSELLOR,
        )
        contact.categories = [ContactCategory(category=c) for c in data.categories]
        contacts.append(contact)
    session.add_all(contacts)
    session.flush()
    session.add_all(DemoContact(contact_id=c.id, loaded_at=now) for c in contacts)
    session.flush()
    audit.record(
        session,
        actor,
        AuditAction.HELPLINE_DEMO_LOADED,
        "helpline_demo_contacts",
        {"year": year, "count": count},
    )
    return count


def remove_demo_contacts(session: Session, *, actor: str = "cli") -> int:
    """Delete every demo contact (and its categories and resource links); one audit entry."""
    ids = select(DemoContact.contact_id)
    n = session.execute(select(func.count()).select_from(DemoContact)).scalar_one()
    if not n:
        return 0
    for model in (ContactCategory, ContactResource, Escalation):
        session.execute(delete(model).where(model.contact_id.in_(ids)))
    doomed = list(session.execute(ids).scalars())
    session.execute(delete(DemoContact))
    session.execute(delete(HelplineContact).where(HelplineContact.id.in_(doomed)))
    audit.record(
        session, actor, AuditAction.HELPLINE_DEMO_LOADED, "helpline_demo_contacts", {"removed": n}
    )
    return int(n)
