"""The confirmed hash bank, isolated behind one function pair.

FALLBACK: until openhotline.matching (bank tables, PDQ index) is on main, confirmed items'
exact hashes (SHA-256, MD5, SHA-1) live in `assessment_confirmed_hashes` and matching is
exact only. At merge, only admit_item_hashes() and find_confirmed_match() change: they
should call the matching service (add entries to the own "confirmed" bank; match an item's
hashes, PDQ included, against banks whose classification may auto-assess).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from openhotline.assessment.models import ConfirmedHash
from openhotline.db import insert_ignore, utcnow
from openhotline.media.models import Item

CONFIRMED_BANK = "confirmed"
EXACT_ALGORITHMS = ("sha256", "md5", "sha1")


@dataclass(frozen=True)
class BankMatch:
    """An item's hash found in a confirmed bank, with the classification it carries."""

    bank: str
    algorithm: str
    value: str
    scheme: str
    classification: str


def admit_item_hashes(session: Session, item: Item, *, scheme: str, classification: str) -> int:
    """Add a confirmed item's hashes to the confirmed bank; return how many were new."""
    rows = [
        {
            "bank": CONFIRMED_BANK,
            "algorithm": algorithm,
            "value": value.lower(),
            "scheme": scheme,
            "classification": classification,
            "item_id": item.id,
            "added_at": utcnow(),
        }
        for algorithm in EXACT_ALGORITHMS
        if (value := getattr(item, algorithm, None))
    ]
    before = _count(session, item.id)
    insert_ignore(session, ConfirmedHash, rows)
    return _count(session, item.id) - before


def _count(session: Session, item_id: int) -> int:
    return len(
        session.execute(select(ConfirmedHash.id).where(ConfirmedHash.item_id == item_id)).all()
    )


def find_confirmed_match(session: Session, item: Item) -> BankMatch | None:
    """Return the confirmed-bank entry matching one of the item's exact hashes, or None."""
    conditions = [
        (ConfirmedHash.algorithm == algorithm) & (ConfirmedHash.value == value.lower())
        for algorithm in EXACT_ALGORITHMS
        if (value := getattr(item, algorithm, None))
    ]
    if not conditions:
        return None
    row = session.execute(
        select(ConfirmedHash).where(or_(*conditions)).order_by(ConfirmedHash.id).limit(1)
    ).scalar_one_or_none()
    if row is None:
        return None
    return BankMatch(row.bank, row.algorithm, row.value, row.scheme, row.classification)


def bank_size(session: Session) -> int:
    """Return the number of distinct items in the confirmed bank."""
    ids = session.execute(select(ConfirmedHash.item_id).distinct()).all()
    return len(ids)


def is_in_confirmed_bank(session: Session, item: Item) -> bool:
    """True when the item's own SHA-256 is in the confirmed bank."""
    return (
        session.execute(
            select(ConfirmedHash.id).where(
                ConfirmedHash.algorithm == "sha256", ConfirmedHash.value == item.sha256.lower()
            )
        ).first()
        is not None
    )
