"""The confirmed hash bank, behind one function pair, on top of openhotline.matching.

admit_item_hashes() puts a four-eyes-confirmed item's hashes (SHA-256, MD5, SHA-1 and, when
not weak, PDQ; a video's vPDQ frames as a vpdq entry) into the own bank named "confirmed",
and queues the job that stores an image's local features (matching/tasks.py).
find_confirmed_match() looks an item up in the banks allowed to assess automatically (by
default only "confirmed"): exact for the cryptographic hashes, PDQ within each bank's radius
when a match engine is given.
Entries carry the classification as "<scheme>:<code>".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from openhotline.assessment.schemes import load_scheme
from openhotline.matching import service as matching
from openhotline.matching import video as vpdq_banks
from openhotline.matching.engine import MatchEngine
from openhotline.matching.matcher import QueryHash, match
from openhotline.matching.models import BankEntry, HashBank, HashType
from openhotline.matching.policy import BankPolicy, BankSource, Decision, split_classification
from openhotline.matching.service import Match
from openhotline.media.models import Item, ItemVideo, VideoState
from openhotline.media.video import parse_vpdq

CONFIRMED_BANK = "confirmed"


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
            session,
            CONFIRMED_BANK,
            "Own items confirmed illegal by four eyes",
            source=BankSource.OWN,
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
    added += _admit_video(session, bank, item, f"{scheme}:{classification}", added_by)
    if item.pdq:  # an image: its local features are computed by a job after the commit
        matching.queue_item_features(session, bank, item.id)
    return added


def _admit_video(
    session: Session, bank: HashBank, item: Item, classification: str, added_by: str
) -> int:
    """A confirmed video's vPDQ frames become a vpdq entry, so re-encoded copies match too."""
    video = session.get(ItemVideo, item.id)
    if video is None or video.state != VideoState.HASHED or not video.frames:
        return 0
    frames = parse_vpdq(video.frames)
    if not vpdq_banks.usable(frames):
        return 0  # e.g. a black or static video: nothing a match could rest on
    _, created = vpdq_banks.add_video(
        session, bank, frames, f"item:{item.id}", classification, added_by
    )
    return int(created)


def auto_assess_banks(session: Session) -> set[str]:
    """Names of enabled banks whose policy lets a match assess an item."""
    return set(
        session.scalars(
            select(HashBank.name).where(
                HashBank.enabled.is_(True), HashBank.policy == BankPolicy.AUTO_ASSESS
            )
        ).all()
    )


@dataclass(frozen=True)
class PolicyOutcome:
    """Matches sorted by their bank's policy: the best auto-assessing one, and the others."""

    auto: BankMatch | None
    hints: list[tuple[HashBank, Match, Decision]]


def apply_policies(session: Session, matches: list[Match]) -> PolicyOutcome:
    """Sort matches by their bank's policy and mapping; the best trusted match wins."""
    by_name = matching.banks_by_name(session, {m.bank for m in matches})
    trusted: list[tuple[Match, str]] = []
    hints: list[tuple[HashBank, Match, Decision]] = []
    for m in matches:
        bank = by_name.get(m.bank)
        if bank is None:
            continue
        decision = matching.decision_for(bank, m.classification)
        if decision.auto and decision.local is not None:
            trusted.append((m, decision.local))
        else:
            hints.append((bank, m, decision))
    if not trusted:
        return PolicyOutcome(None, hints)
    best, local = min(
        trusted, key=lambda t: (t[0].distance, t[0].hash_type != "sha256", t[0].entry_id)
    )
    scheme, code = split_classification(local)
    return PolicyOutcome(
        BankMatch(best.bank, best.hash_type, best.hash_value, scheme, code, best.distance), hints
    )


def map_bank_classes(
    session: Session, name: str, mapping: dict[str, str], scheme_name: str, actor: str
) -> HashBank:
    """Map a bank's codes to classes of the local scheme (each must exist there), audited."""
    scheme = load_scheme(scheme_name)
    unknown = sorted({v.strip() for v in mapping.values()} - {c.code for c in scheme.classes})
    if unknown:
        known = ", ".join(c.code for c in scheme.classes)
        raise matching.BankInvalidError(
            f"not a class of scheme {scheme_name!r}: {', '.join(unknown)} (known: {known})"
        )
    bank = matching.get_bank(session, name)
    matching.set_mapping(session, bank, mapping, actor, local_scheme=scheme.name)
    return bank


def find_confirmed_match(
    session: Session,
    item: Item,
    engine: MatchEngine | None = None,
    banks: Iterable[str] | None = None,
) -> BankMatch | None:
    """Return the best match of the item in the auto-assessing banks, or None.

    Banks default to those whose policy is auto_assess; a match whose classification has no
    mapping to the local scheme does not count. Exact hashes always; PDQ (not for weak
    hashes) when a match engine is given.
    """
    allowed = set(banks) if banks is not None else auto_assess_banks(session)
    if not allowed:
        return None
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
    return apply_policies(session, found).auto
