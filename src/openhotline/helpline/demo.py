"""Synthetic helpline contacts for demos: coded fields only, no notes, no identities."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from openhotline.helpline import service
from openhotline.helpline.crypto import FieldCipher
from openhotline.helpline.taxonomy import Taxonomy

DEMO_COUNSELLOR = "demo"


def load_demo_contacts(
    session: Session,
    *,
    year: int,
    count: int,
    cipher: FieldCipher,
    taxonomy: Taxonomy,
    seed: int = 1,
) -> int:
    """Record count random coded contacts spread over a year; return how many."""
    rng = random.Random(seed)  # noqa: S311  (reproducible synthetic data, not secrets)
    channels, ages = list(taxonomy.channels), [None, *taxonomy.age_bands]
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
        at = datetime(year, rng.randint(1, 12), rng.randint(1, 28), rng.randint(0, 23), tzinfo=UTC)
        data = service.validate_contact(raw, mode)
        service.record_contact(
            session,
            data,
            mode=mode,
            counsellor=DEMO_COUNSELLOR,
            cipher=cipher,
            taxonomy=taxonomy,
            at=at,
        )
    return count
