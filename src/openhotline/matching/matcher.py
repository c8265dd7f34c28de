"""Matching use case: query hashes (or an image's candidates) against every enabled bank."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from openhotline.matching.engine import MatchEngine, PDQHit
from openhotline.matching.models import HashType
from openhotline.matching.rules import max_distance
from openhotline.matching.service import Match, entries_by_id, exact_matches
from openhotline.matching.snapshot import BankSnapshot
from openhotline.media.hashing import WEAK_QUALITY

if TYPE_CHECKING:
    from openhotline.matching.features import Features

# A query image's local features, computed only when some bank needs them (labels
# "features", "features:region1" ...: matching/features.query_features).
FeatureSource = Callable[[], "list[tuple[str, Features]]"]


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
    features: FeatureSource | None = None,
) -> dict[str, list[Match]]:
    """Matches per bank name, best (smallest distance) per entry, sorted by distance.

    Weak PDQ hashes (quality < 50) match only an identical bank hash; query candidates other
    than the plain hashes (labels with a ':') match at the bank radius minus
    candidate_margin (matching/rules.py). PDQ is the fast first pass: a bank it found
    nothing in that holds local features is then searched with the query image's
    features (computed only then), at the bank's minimum inliers and descriptor radius.
    """
    found: list[Match] = []
    for q in queries:
        if q.hash_type is not HashType.PDQ:
            found.extend(exact_matches(session, {q.hash_type: q.value}, label=q.label))
    pdq = [q for q in queries if q.hash_type is HashType.PDQ]
    if pdq:
        hits = engine.match_pdq(session, [q.value for q in pdq], banks_only)
        radius_of = {b[0]: b[2] for b in engine.sync(session)}
        hits = _within(hits, pdq, radius_of, candidate_margin)
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
    if features is not None:
        found.extend(_feature_matches(session, engine, features, found, banks_only))
    return _best(found, banks_only)


def _feature_matches(
    session: Session,
    engine: MatchEngine,
    features: FeatureSource,
    found: list[Match],
    banks_only: set[str] | None,
) -> list[Match]:
    """Local-feature matches in the banks with features where nothing matched yet."""
    matched = {m.bank for m in found}
    banks = [b for b in engine.sync_features(session, banks_only) if b.name not in matched]
    if not banks:
        return []
    queries = features()
    if not queries:
        return []
    hits = engine.match_features(queries, banks)
    entries = entries_by_id(session, sorted({h.entry_id for h in hits}))
    out: list[Match] = []
    for h in hits:
        if h.entry_id not in entries:
            continue
        entry, bank = entries[h.entry_id]
        out.append(
            Match(
                bank=bank, entry_id=entry.id, hash_type="features", hash_value=entry.hash_value,
                distance=0, classification=entry.classification, source=entry.source,
                query=h.query, inliers=h.inliers,
            )
        )  # fmt: skip
    return out


def match_frozen(
    snapshot: BankSnapshot,
    queries: list[QueryHash],
    candidate_margin: int = 0,
    banks_only: set[str] | None = None,
) -> dict[str, list[Match]]:
    """`match` against a snapshot of banks instead of the database (bulk scans on Ray)."""
    found: list[Match] = []
    for q in queries:
        if q.hash_type is not HashType.PDQ:
            found.extend(snapshot.exact_matches(q.hash_type, q.value, label=q.label))
    pdq = [q for q in queries if q.hash_type is HashType.PDQ]
    if pdq:
        hits = snapshot.match_pdq([q.value for q in pdq], banks_only)
        for h in _within(hits, pdq, snapshot.radius_of, candidate_margin):
            m = snapshot.pdq_match(h, pdq[h.query].label)
            if m is not None:
                found.append(m)
    return _best(found, banks_only)


def _within(
    hits: list[PDQHit], pdq: list[QueryHash], radius_of: dict[int, int], margin: int
) -> list[PDQHit]:
    """The hits within the distance their query candidate may match at (rules.py)."""
    return [
        h for h in hits
        if h.distance <= max_distance(
            pdq[h.query].label, pdq[h.query].quality, radius_of.get(h.bank_id, 0), margin
        )
    ]  # fmt: skip


def _best(found: list[Match], banks_only: set[str] | None) -> dict[str, list[Match]]:
    """The best match per entry, grouped by bank, sorted by distance then entry."""
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


@dataclass
class VideoBankMatch:
    """How much of a video matched one bank: frames matched and the entries they hit."""

    bank: str
    frames_matched: int
    frames_total: int
    entries: dict[int, int]  # entry id -> number of frames that matched it

    @property
    def share(self) -> float:
        """Share of the video's (non-weak) frames that matched."""
        return self.frames_matched / self.frames_total if self.frames_total else 0.0


def match_video(
    session: Session,
    engine: MatchEngine,
    frames: list[tuple[str, int]],
    banks_only: set[str] | None = None,
) -> list[VideoBankMatch]:
    """Match a video's frame hashes (pdq, quality) through the PDQ index, per bank."""
    usable = [h for h, q in frames if q >= WEAK_QUALITY]
    hits = engine.match_pdq(session, usable, banks_only) if usable else []
    per_bank: dict[str, tuple[set[int], dict[int, int]]] = {}
    for h in hits:
        matched, entries = per_bank.setdefault(h.bank, (set(), {}))
        matched.add(h.query)
        entries[h.entry_id] = entries.get(h.entry_id, 0) + 1
    return [
        VideoBankMatch(bank, len(matched), len(usable), entries)
        for bank, (matched, entries) in sorted(per_bank.items())
    ]
