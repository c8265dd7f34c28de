"""The confirmed hash bank, behind one function pair, on top of openhotline.matching.

admit_item_hashes() puts a four-eyes-confirmed item's hashes (SHA-256, MD5, SHA-1 and, when
not weak, PDQ) into the own bank named "confirmed". find_confirmed_match() looks an item up
in the banks allowed to assess automatically (by default only "confirmed"): exact for the
cryptographic hashes, PDQ within each bank's radius when a match engine is given.
Entries carry the classification as "<scheme>:<code>".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from openhotline.matching import service as matching
from openhotline.matching.engine import MatchEngine
from openhotline.matching.matcher import QueryHash, match
from openhotline.matching.models import BankEntry, HashBank, HashType
from openhotline.media.models import Item

CONFIRMED_BANK = "confirmed"
AUTO_ASSESS_BANKS = (CONFIRMED_BANK,)


@dataclass(frozen=True)
class BankMatch:
    """An item's hash found in a confirmed bank, with the classification it carries."""

    bank: str
    algorithm: str
    value: str
    scheme: str
    classification: str
    distance: int = 0


def confirmed_bank(session: Session) -> HashBank:
    """Return the own confirmed bank, creating it on first use."""
    bank = session.scalar(select(HashBank).where(HashBank.name == CONFIRMED_BANK))
    if bank is None:
        bank = matching.create_bank(
            session, CONFIRMED_BANK, "Own items confirmed illegal by four eyes"
        )
    return bank


def _item_hashes(item: Item, *, with_pdq: bool) -> list[tuple[HashType, str]]:
    out = [(HashType.SHA256, item.sha256), (HashType.MD5, item.md5), (HashType.SHA1, item.sha1)]
    if with_pdq and item.pdq and not item.weak:
        out.append((HashType.PDQ, item.pdq))
    return [(t, v.lower()) for t, v in out if v]


def admit_item_hashes(
    session: Session, item: Item, *, scheme: str, classification: str, added_by: str = "four-eyes"
) -> int:
    """Add a confirmed item's hashes to the confirmed bank; return how many were new."""
    bank = confirmed_bank(session)
    added = 0
    for hash_type, value in _item_hashes(item, with_pdq=True):
        live = session.scalar(
            select(BankEntry.id).where(
                BankEntry.bank_id == bank.id,
                BankEntry.hash_type == hash_type.value,
                BankEntry.hash_value == value,
                BankEntry.removed_at.is_(None),
            )
        )
        if live is None:
            matching.add_entry(
                session,
                bank,
                hash_type,
                value,
                source=f"item:{item.id}",
                classification=f"{scheme}:{classification}",
                added_by=added_by,
            )
            added += 1
    return added


def _split(classification: str) -> tuple[str, str]:
    scheme, sep, code = classification.partition(":")
    return (scheme, code) if sep else ("", classification)


def find_confirmed_match(
    session: Session,
    item: Item,
    engine: MatchEngine | None = None,
    banks: Iterable[str] = AUTO_ASSESS_BANKS,
) -> BankMatch | None:
    """Return the best match of the item in the auto-assessing banks, or None.

    Exact hashes always; PDQ (not for weak hashes) when a match engine is given.
    """
    allowed = set(banks)
    use_pdq = engine is not None
    queries = [QueryHash(t.value, t, v) for t, v in _item_hashes(item, with_pdq=use_pdq)]
    if engine is not None:
        if item.pdq and not item.weak:
            queries[-1] = QueryHash("pdq", HashType.PDQ, item.pdq.lower(), item.pdq_quality)
        found = [
            m for ms in match(session, engine, queries, banks_only=allowed).values() for m in ms
        ]
    else:
        exact = dict(_item_hashes(item, with_pdq=False))
        found = [m for m in matching.exact_matches(session, exact) if m.bank in allowed]
    if not found:
        return None
    best = min(found, key=lambda m: (m.distance, m.hash_type != "sha256", m.entry_id))
    scheme, code = _split(best.classification)
    return BankMatch(best.bank, best.hash_type, best.hash_value, scheme, code, best.distance)
