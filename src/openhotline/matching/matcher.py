"""Matching use case: query hashes (or an image's candidates) against every enabled bank."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from openhotline.matching.engine import MatchEngine
from openhotline.matching.models import HashType
from openhotline.matching.service import Match, entries_by_id, exact_matches
from openhotline.media.hashing import WEAK_QUALITY


@dataclass(frozen=True)
class QueryHash:
    """One hash to look up; quality None means unknown (a bare hash sent by a partner)."""

    label: str
    hash_type: HashType
    value: str
    quality: int | None = None


def match(
    session: Session,
    engine: MatchEngine,
    queries: list[QueryHash],
    candidate_margin: int = 0,
    banks_only: set[str] | None = None,
) -> dict[str, list[Match]]:
    """Matches per bank name, best (smallest distance) per entry, sorted by distance.

    Weak PDQ hashes (quality < 50) are not matched. Query candidates other than the plain
    hashes (labels with a ':') match at the bank radius minus candidate_margin.
    """
    found: list[Match] = []
    for q in queries:
        if q.hash_type is not HashType.PDQ:
            found.extend(exact_matches(session, {q.hash_type: q.value}, label=q.label))
    pdq = [q for q in queries if q.hash_type is HashType.PDQ]
    pdq = [q for q in pdq if q.quality is None or q.quality >= WEAK_QUALITY]
    if pdq:
        hits = engine.match_pdq(session, [q.value for q in pdq], banks_only)
        radius_of = {b[0]: b[2] for b in engine.sync(session)}
        hits = [
            h for h in hits
            if ":" not in pdq[h.query].label
            or h.distance <= radius_of.get(h.bank_id, 0) - candidate_margin
        ]  # fmt: skip
        entries = entries_by_id(session, sorted({h.entry_id for h in hits}))
        for h in hits:
            if h.entry_id not in entries:
                continue
            entry, bank = entries[h.entry_id]
            found.append(
                Match(
                    bank=bank, entry_id=entry.id, hash_type="pdq", hash_value=entry.hash_value,
                    distance=h.distance, classification=entry.classification,
                    source=entry.source, query=pdq[h.query].label,
                )
            )  # fmt: skip
    best: dict[int, Match] = {}
    for m in found:
        if banks_only is not None and m.bank not in banks_only:
            continue
        if m.entry_id not in best or m.distance < best[m.entry_id].distance:
            best[m.entry_id] = m
    out: dict[str, list[Match]] = {}
    for m in sorted(best.values(), key=lambda m: (m.bank, m.distance, m.entry_id)):
        out.setdefault(m.bank, []).append(m)
    return out
