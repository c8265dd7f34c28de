"""Shared helpers of the helpline tests: synthetic contacts only (codes, neutral notes)."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from openhotline.helpline import service
from openhotline.helpline.crypto import FieldCipher
from openhotline.helpline.models import HelplineContact
from openhotline.helpline.taxonomy import Taxonomy, load_taxonomy

KEY = bytes(range(32))
TAXONOMY = load_taxonomy()


def cipher() -> FieldCipher:
    """A cipher with a fixed test key."""
    return FieldCipher(KEY)


def child_input(**overrides: Any) -> dict[str, Any]:
    """A valid child helpline contact (synthetic)."""
    raw: dict[str, Any] = {
        "channel": "chat",
        "contact_type": "child_about_self",
        "categories": ["online_sexual_exploitation", "mental_health"],
        "age_band": "13-15",
        "gender": "female",
        "region": "north",
        "outcome": "support_given",
        "referrals": [],
        "notes": "synthetic note 0001",
    }
    raw.update(overrides)
    return raw


def prevention_input(**overrides: Any) -> dict[str, Any]:
    """A valid prevention helpline contact (synthetic)."""
    raw: dict[str, Any] = {
        "channel": "phone",
        "contact_type": "adult_about_own_behaviour",
        "categories": ["own_behaviour_concern"],
        "age_band": "25+",
        "gender": "male",
        "outcome": "referred",
        "referrals": ["health"],
    }
    raw.update(overrides)
    return raw


def record(
    session: Session,
    raw: dict[str, Any],
    mode: str = "child",
    counsellor: str = "cora",
    at: datetime | None = None,
    taxonomy: Taxonomy = TAXONOMY,
) -> HelplineContact:
    """Validate and record one contact."""
    data = service.validate_contact(raw, mode)
    return service.record_contact(
        session, data, mode=mode, counsellor=counsellor, cipher=cipher(), taxonomy=taxonomy, at=at
    )


def seed_year(session: Session, year: int, n: int, seed: int = 7) -> None:
    """Record n random synthetic contacts spread over a (past) year."""
    rng = random.Random(seed)
    tx = TAXONOMY
    for _ in range(n):
        mode = rng.choice(["child", "child", "prevention"])
        types = list(tx.contact_types_for(mode))
        raw = {
            "channel": rng.choice(list(tx.channels)),
            "contact_type": rng.choice(types),
            "categories": rng.sample(list(tx.categories), rng.randint(0, 2)),
            "age_band": rng.choice([None, *tx.age_bands]),
            "gender": rng.choice([None, *tx.genders]),
            "region": rng.choice([None, *tx.regions]),
            "outcome": rng.choice(list(tx.outcomes)),
        }
        at = datetime(year, rng.randint(1, 12), rng.randint(1, 28), rng.randint(0, 23), tzinfo=UTC)
        record(session, raw, mode, at=at)
