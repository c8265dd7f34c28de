"""Hash-bank use cases: create banks, add/remove entries, stream imports and exports, match.

Services never commit: the caller owns the transaction. Streaming imports flush in batches
through `insert_ignore`; the CLI commits between batches so a million-row file never sits in
one transaction.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from openhotline import db
from openhotline.audit import service as audit
from openhotline.audit.models import AuditAction
from openhotline.errors import ConflictError, DomainError, ErrorKind, InvalidError, NotFoundError
from openhotline.jobs import service as jobs
from openhotline.matching.formats import BadRow, Row, normalise_hash
from openhotline.matching.models import (
    DEFAULT_PDQ_RADIUS,
    BankEntry,
    BankFeatures,
    BankHint,
    HashBank,
    HashType,
)
from openhotline.matching.policy import (
    BankPolicy,
    BankSource,
    Decision,
    decide,
    default_policy,
    dump_mapping,
    load_mapping,
)

IMPORT_BATCH = 5000
MAX_REASONS = 20
SAMPLES_PER_REASON = 3
OTHER_REASONS = "other reasons"


class BankError(DomainError):
    """Every error bank code raises on purpose (catch this); raise a kind below."""


class BankInvalidError(BankError, InvalidError):
    """A bank operation that cannot be done; the message is safe to show."""

    kind = ErrorKind.INVALID


class BankNotFoundError(BankError, NotFoundError):
    """No bank of that name."""

    kind = ErrorKind.NOT_FOUND


class BankConflictError(BankError, ConflictError):
    """A bank of that name exists already."""

    kind = ErrorKind.CONFLICT


@dataclass
class ImportResult:
    """What an import did: rows added, duplicates, bad rows with reasons (first few kept)."""

    added: int = 0
    duplicates: int = 0
    bad: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)  # "line N: reason", first MAX_REASONS
    # Up to SAMPLES_PER_REASON line numbers for each reason.
    samples: dict[str, list[int]] = field(default_factory=dict)

    def note_bad(self, bad: BadRow) -> None:
        """Count a skipped row; memory stays bounded whatever the file holds."""
        self.bad += 1
        # Reasons can quote the input (an unknown type name): past MAX_REASONS distinct ones,
        # the rest are counted together (2 GiB of random bytes kept 3.56 GB of reasons).
        known = bad.reason in self.reasons or len(self.reasons) < MAX_REASONS
        reason = bad.reason if known else OTHER_REASONS
        self.reasons[reason] += 1
        lines = self.samples.setdefault(reason, [])
        if len(lines) < SAMPLES_PER_REASON:
            lines.append(bad.line)
        if len(self.examples) < MAX_REASONS:
            self.examples.append(f"line {bad.line}: {bad.reason}")


def create_bank(
    session: Session,
    name: str,
    description: str = "",
    pdq_radius: int = DEFAULT_PDQ_RADIUS,
    enabled: bool = True,
    source: BankSource = BankSource.IMPORTED,
    owner_org_id: int | None = None,
) -> HashBank:
    """Create a bank; names are unique; the policy starts at the source's default."""
    name = name.strip()
    if not name or len(name) > 100:
        raise BankInvalidError("a bank name needs 1 to 100 characters")
    if not 0 <= pdq_radius <= 128:
        raise BankInvalidError("pdq_radius must be between 0 and 128")
    if session.scalar(select(HashBank.id).where(HashBank.name == name)) is not None:
        raise BankConflictError(f"a bank named {name!r} already exists")
    bank = HashBank(
        name=name, description=description, pdq_radius=pdq_radius, enabled=enabled, version=0,
        source=source, policy=default_policy(source), classification_map="{}",
        owner_org_id=owner_org_id,
    )  # fmt: skip
    session.add(bank)
    session.flush()
    return bank


def get_bank(session: Session, name: str) -> HashBank:
    """The bank with this name, or BankError."""
    bank = session.scalar(select(HashBank).where(HashBank.name == name))
    if bank is None:
        raise BankNotFoundError(f"no bank named {name!r}")
    return bank


def list_banks(session: Session) -> list[tuple[HashBank, int]]:
    """All banks with their live entry counts."""
    counts = dict(
        session.execute(
            select(BankEntry.bank_id, func.count())
            .where(BankEntry.removed_at.is_(None))
            .group_by(BankEntry.bank_id)
        ).all()
    )
    banks = session.scalars(select(HashBank).order_by(HashBank.name)).all()
    return [(b, int(counts.get(b.id, 0))) for b in banks]


def set_bank_options(
    session: Session, bank: HashBank, enabled: bool | None = None, pdq_radius: int | None = None
) -> None:
    """Enable/disable a bank or change its PDQ radius."""
    if enabled is not None:
        bank.enabled = enabled
    if pdq_radius is not None:
        if not 0 <= pdq_radius <= 128:
            raise BankInvalidError("pdq_radius must be between 0 and 128")
        bank.pdq_radius = pdq_radius
    _bump(session, bank.id)


MAX_MIN_INLIERS = 300
MAX_FEATURE_RADIUS = 64


def set_feature_settings(
    session: Session,
    bank: HashBank,
    actor: str,
    enabled: bool | None = None,
    min_inliers: int | None = None,
    radius: int | None = None,
) -> dict[str, list[object]]:
    """Change a bank's local-feature settings (audited as bank.settings); returns the changes.

    min_inliers below 8 would let chance agreement through (bench/features.py), above the
    keypoints stored it could never match; a descriptor radius past 64 bits of 256 matches
    nearly any descriptor.
    """
    if min_inliers is not None and not 8 <= min_inliers <= MAX_MIN_INLIERS:
        raise BankInvalidError(f"min_inliers must be between 8 and {MAX_MIN_INLIERS}")
    if radius is not None and not 0 <= radius <= MAX_FEATURE_RADIUS:
        raise BankInvalidError(f"the descriptor radius must be between 0 and {MAX_FEATURE_RADIUS}")
    wanted = {
        "features_enabled": enabled,
        "features_min_inliers": min_inliers,
        "features_radius": radius,
    }
    changes: dict[str, list[object]] = {}
    for name, value in wanted.items():
        if value is not None and getattr(bank, name) != value:
            changes[name] = [getattr(bank, name), value]
            setattr(bank, name, value)
    if changes:
        audit.record(session, actor, AuditAction.BANK_SETTINGS, f"bank:{bank.name}", changes)
        _bump(session, bank.id)
        session.flush()
    return changes


def set_policy(session: Session, bank: HashBank, policy: BankPolicy, actor: str) -> bool:
    """Change what a bank's matches do (audited); auto_assess marks the bank trusted.

    Returns False when the policy was already in force (nothing recorded).
    """
    if bank.policy == policy:
        return False
    before = bank.policy
    bank.policy = policy
    audit.record(
        session,
        actor,
        AuditAction.BANK_POLICY,
        f"bank:{bank.name}",
        {"from": before.value, "to": policy.value},
    )
    session.flush()
    return True


def set_mapping(
    session: Session, bank: HashBank, mapping: dict[str, str], actor: str, local_scheme: str
) -> None:
    """Replace the bank's classification mapping (bank code -> local code), audited.

    Local codes are stored as "<local_scheme>:<code>"; the caller checks they exist.
    """
    clean: dict[str, str] = {}
    for code, local in mapping.items():
        code, local = code.strip(), local.strip()
        if not code or not local or len(code) > 100 or len(local) > 100:
            raise BankInvalidError("a mapping needs a bank code and a local code, 1-100 chars")
        clean[code] = f"{local_scheme}:{local}"
    bank.classification_map = dump_mapping(clean)
    audit.record(session, actor, AuditAction.BANK_MAPPING, f"bank:{bank.name}", dict(clean))
    session.flush()


def mapping_of(bank: HashBank) -> dict[str, str]:
    """The bank's classification mapping (bank code -> local "<scheme>:<code>")."""
    return load_mapping(bank.classification_map)


def decision_for(bank: HashBank, classification: str) -> Decision:
    """What a match of this classification in this bank may do (policy + mapping)."""
    return decide(bank.policy, bank.source, mapping_of(bank), classification)


def record_hint(
    session: Session, item_id: int, bank: HashBank, m: Match, decision: Decision
) -> None:
    """Record a match that did not assess the item (once per item and entry)."""
    db.insert_ignore(
        session,
        BankHint,
        [
            {
                "item_id": item_id, "bank_id": bank.id, "entry_id": m.entry_id,
                "policy": decision.policy.value, "hash_type": m.hash_type,
                "distance": m.distance, "classification": m.classification[:100],
                "local_classification": (decision.local or "")[:100],
                "created_at": db.now(session),
            }
        ],
    )  # fmt: skip


def hints_for(session: Session, item_id: int) -> list[tuple[BankHint, str]]:
    """Hints (with bank names) analysts should see on an item's page, closest first."""
    rows = session.execute(
        select(BankHint, HashBank.name)
        .join(HashBank, HashBank.id == BankHint.bank_id)
        .where(BankHint.item_id == item_id, BankHint.policy == BankPolicy.REVIEW_WITH_HINT)
        .order_by(BankHint.distance, BankHint.id)
    ).all()
    return [(h, name) for h, name in rows]


def owned_banks(session: Session, org_id: int | None) -> set[str]:
    """Names of the banks a partner organisation owns (none for a static key)."""
    if org_id is None:
        return set()
    return set(session.scalars(select(HashBank.name).where(HashBank.owner_org_id == org_id)))


def banks_by_name(session: Session, names: Iterable[str]) -> dict[str, HashBank]:
    """Banks for these names (those that exist)."""
    wanted = set(names)
    if not wanted:
        return {}
    banks = session.scalars(select(HashBank).where(HashBank.name.in_(wanted))).all()
    return {b.name: b for b in banks}


def _bump(session: Session, bank_id: int) -> None:
    session.execute(
        update(HashBank).where(HashBank.id == bank_id).values(version=HashBank.version + 1)
    )


def add_entry(
    session: Session,
    bank: HashBank,
    hash_type: HashType,
    value: str,
    source: str = "",
    classification: str = "",
    added_by: str = "",
) -> BankEntry:
    """Add one hash (or return the live entry that already holds it)."""
    value = normalise_hash(hash_type, value)
    existing = session.scalar(
        select(BankEntry).where(
            BankEntry.bank_id == bank.id,
            BankEntry.hash_type == hash_type.value,
            BankEntry.hash_value == value,
            BankEntry.removed_at.is_(None),
        )
    )
    if existing is not None:
        return existing
    entry = BankEntry(
        bank_id=bank.id, hash_type=hash_type.value, hash_value=value, source=source[:200],
        classification=classification[:100], added_by=added_by[:100], added_at=db.now(session),
        removed_by="",
    )  # fmt: skip
    session.add(entry)
    session.flush()
    _bump(session, bank.id)
    return entry


def remove_entry(
    session: Session, bank: HashBank, hash_type: HashType, value: str, removed_by: str = ""
) -> int:
    """Mark the live entry for this hash removed (kept as a trace); returns 0 or 1."""
    value = normalise_hash(hash_type, value)
    result = session.execute(
        update(BankEntry)
        .where(
            BankEntry.bank_id == bank.id,
            BankEntry.hash_type == hash_type.value,
            BankEntry.hash_value == value,
            BankEntry.removed_at.is_(None),
        )
        .values(removed_at=db.now(session), removed_by=removed_by[:100])
    )
    n = int(getattr(result, "rowcount", 0) or 0)
    if n and hash_type is HashType.SHA256:
        # The item leaves the bank: its local features go with it.
        remove_features(session, bank, value, removed_by)
    if n:
        _bump(session, bank.id)
    return n


def add_features(
    session: Session, bank: HashBank, entry: BankEntry, features: bytes, keypoints: int,
    added_by: str = "",
) -> BankFeatures | None:  # fmt: skip
    """Store an own item's local features (Features.to_bytes()) against its SHA-256 entry.

    One live row per item and bank: an item already there keeps its row. None when the
    item has no keypoints (a flat picture): there is nothing to match it by.
    """
    if entry.hash_type != HashType.SHA256.value or entry.bank_id != bank.id:
        raise BankInvalidError("local features belong to an item's SHA-256 entry in the bank")
    if keypoints == 0:
        return None
    existing = session.scalar(
        select(BankFeatures).where(
            BankFeatures.bank_id == bank.id,
            BankFeatures.item_sha256 == entry.hash_value,
            BankFeatures.removed_at.is_(None),
        )
    )
    if existing is not None:
        return existing
    row = BankFeatures(
        bank_id=bank.id, entry_id=entry.id, item_sha256=entry.hash_value, keypoints=keypoints,
        features=features, added_by=added_by[:100], added_at=db.now(session), removed_by="",
    )  # fmt: skip
    session.add(row)
    session.flush()
    _bump(session, bank.id)
    return row


FEATURES_JOB = "bank.features"  # handled by matching/tasks.py:item_features_job


def queue_item_features(session: Session, bank: HashBank, item_id: int) -> None:
    """Queue the local features of an item just admitted to an own bank (same transaction).

    They need the decrypted bytes and OpenCV, so a job computes them after the commit.
    """
    jobs.enqueue(
        session, FEATURES_JOB, {"bank": bank.name, "item_id": item_id},
        dedupe_key=f"bank-features:{bank.id}:{item_id}",
    )  # fmt: skip


def live_entry(session: Session, bank: HashBank, sha256: str) -> BankEntry | None:
    """The live SHA-256 entry of an item in a bank, if any."""
    return session.scalar(
        select(BankEntry).where(
            BankEntry.bank_id == bank.id,
            BankEntry.hash_type == HashType.SHA256.value,
            BankEntry.hash_value == sha256.lower(),
            BankEntry.removed_at.is_(None),
        )
    )


def remove_features(session: Session, bank: HashBank, sha256: str, removed_by: str = "") -> int:
    """Retire an item's live local features in a bank (kept as a trace); returns 0 or 1."""
    result = session.execute(
        update(BankFeatures)
        .where(
            BankFeatures.bank_id == bank.id,
            BankFeatures.item_sha256 == sha256.lower(),
            BankFeatures.removed_at.is_(None),
        )
        .values(removed_at=db.now(session), removed_by=removed_by[:100])
    )
    n = int(getattr(result, "rowcount", 0) or 0)
    if n:
        _bump(session, bank.id)
    return n


def feature_counts(session: Session) -> dict[int, int]:
    """Live items with local features, per bank id."""
    rows = session.execute(
        select(BankFeatures.bank_id, func.count())
        .where(BankFeatures.removed_at.is_(None))
        .group_by(BankFeatures.bank_id)
    ).all()
    return {int(b): int(n) for b, n in rows}


def add_item(
    session: Session,
    bank: HashBank,
    md5: str,
    sha256: str,
    pdq: str | None,
    variants: list[tuple[str, str]],
    classification: str = "",
    added_by: str = "",
    features: bytes | None = None,
    keypoints: int = 0,
) -> list[BankEntry]:
    """Add an own confirmed item: its MD5, SHA-256, PDQ, stored PDQ variants and features.

    variants are (label, pdq) pairs; each is recorded with source "variant:<label> of
    <sha256>", so a match on one says which item and which variant it came from. features
    (Features.to_bytes(), `keypoints` of them) are kept against the SHA-256 entry.
    """
    rows = [
        (HashType.MD5, md5, f"item {sha256}"),
        (HashType.SHA256, sha256, f"item {sha256}"),
    ]
    if pdq is not None:
        rows.append((HashType.PDQ, pdq, f"item {sha256}"))
        rows.extend((HashType.PDQ, h, f"{label} of {sha256}") for label, h in variants)
    entries = [
        add_entry(session, bank, ht, value, source[:200], classification, added_by)
        for ht, value, source in rows
    ]
    if features is not None:
        add_features(session, bank, entries[1], features, keypoints, added_by)
    return entries


def import_rows(
    session: Session,
    bank: HashBank,
    rows: Iterable[Row | BadRow],
    added_by: str = "",
    batch_size: int = IMPORT_BATCH,
    on_batch: Callable[[ImportResult, int], None] | None = None,
) -> ImportResult:
    """Insert parsed rows in batches, skipping duplicates and counting bad rows.

    on_batch(result, last_line) runs after each batch is flushed; the CLI commits there and
    advances its progress bar.
    """
    result = ImportResult()
    batch: list[dict[str, object]] = []
    seen_in_batch: set[tuple[str, str]] = set()
    last_line = 0
    table = BankEntry.__table__

    def flush() -> None:
        if not batch:
            return
        added = _insert_ignore_count(session, table, batch)
        result.added += added
        result.duplicates += len(batch) - added
        batch.clear()
        seen_in_batch.clear()
        _bump(session, bank.id)
        if on_batch is not None:
            on_batch(result, last_line)

    now = db.now(session)
    for row in rows:
        if isinstance(row, BadRow):
            result.note_bad(row)
            last_line = row.line
            continue
        last_line = row.line
        key = (row.hash_type.value, row.hash_value)
        if key in seen_in_batch:
            result.duplicates += 1
            continue
        seen_in_batch.add(key)
        batch.append(
            {
                "bank_id": bank.id, "hash_type": row.hash_type.value,
                "hash_value": row.hash_value, "source": row.source[:200],
                "classification": row.classification[:100],
                "added_by": (row.added_by or added_by)[:100], "added_at": now,
                "removed_by": "",
            }
        )  # fmt: skip
        if len(batch) >= batch_size:
            flush()
    flush()
    bank.last_synced_at = now
    return result


def reclassify_rows(
    session: Session,
    bank: HashBank,
    rows: Iterable[Row],
    live: Mapping[tuple[str, str], tuple[int, str]] | None = None,
) -> int:
    """Give live entries the classification their source now states; returns how many changed.

    A partner that regrades a hash it already sent (category A to B, or to "not illegal")
    sends the same hash again: the insert skips it as a duplicate, so the new grade would be
    lost without this. live maps (type, value) to (entry id, classification) for the live
    entries read before the import (`live_entries`); a snapshot sync passes it so that a
    5M-row list is diffed in memory instead of re-read 500 hashes a query.
    """
    wanted: dict[tuple[str, str], str] = {}
    first: dict[tuple[str, str], str] = {}  # what the import inserted for a new key
    for row in rows:
        key = (row.hash_type.value, row.hash_value)
        grade = row.classification[:100]
        first.setdefault(key, grade)
        wanted[key] = grade
    changes: dict[str, list[int]] = {}  # new classification -> entry ids
    for entry_id, key, current in _current_grades(session, bank, wanted, first, live):
        new = wanted[key]
        if new != current:
            changes.setdefault(new, []).append(entry_id)
    changed = 0
    for classification, ids in changes.items():
        for start in range(0, len(ids), 500):
            session.execute(
                update(BankEntry)
                .where(BankEntry.id.in_(ids[start : start + 500]))
                .values(classification=classification)
                .execution_options(synchronize_session=False)
            )
        changed += len(ids)
    if changed:
        _bump(session, bank.id)  # matcher processes reload the bank; the caller audits
    return changed


def live_entries(session: Session, bank: HashBank) -> dict[tuple[str, str], tuple[int, str]]:
    """Every live entry of a bank: (type, value) -> (entry id, classification)."""
    rows = session.execute(
        select(
            BankEntry.hash_type, BankEntry.hash_value, BankEntry.id, BankEntry.classification
        ).where(BankEntry.bank_id == bank.id, BankEntry.removed_at.is_(None))
    ).all()
    return {(t, v): (i, c) for t, v, i, c in rows}


def _current_grades(
    session: Session,
    bank: HashBank,
    wanted: Mapping[tuple[str, str], str],
    first: Mapping[tuple[str, str], str],
    live: Mapping[tuple[str, str], tuple[int, str]] | None,
) -> Iterator[tuple[int, tuple[str, str], str]]:
    """(entry id, key, classification) of the wanted keys that were live before the import.

    Rows inserted by the import already carry their source's grade, so only entries that
    were live before need looking at.
    """
    if live is not None:
        unknown = []
        for key, grade in wanted.items():
            hit = live.get(key)
            if hit is not None:
                yield hit[0], key, hit[1]
            elif first[key] != grade:
                unknown.append(key)  # a list naming one hash twice, with two grades
        wanted = {key: wanted[key] for key in unknown}
    by_type: dict[str, list[str]] = {}
    for hash_type, value in wanted:
        by_type.setdefault(hash_type, []).append(value)
    for hash_type, values in by_type.items():
        for start in range(0, len(values), 500):
            for entry_id, value, current in session.execute(
                select(BankEntry.id, BankEntry.hash_value, BankEntry.classification).where(
                    BankEntry.bank_id == bank.id,
                    BankEntry.hash_type == hash_type,
                    BankEntry.hash_value.in_(values[start : start + 500]),
                    BankEntry.removed_at.is_(None),
                )
            ).all():
                yield entry_id, (hash_type, value), current


def _insert_ignore_count(session: Session, table: Any, rows: list[dict[str, object]]) -> int:
    """Insert rows skipping those that hit a unique index; returns how many went in."""
    dialect = session.get_bind().dialect.name
    target: Any = getattr(table, "__table__", table)
    if dialect == "postgresql":
        stmt: Any = postgresql.insert(target).on_conflict_do_nothing()
    else:
        stmt = sqlite.insert(target).on_conflict_do_nothing()
    # Count the rows RETURNING hands back: psycopg reports rowcount -1 for executemany.
    return len(session.execute(stmt.returning(target.c.id), rows).all())


def iter_entries(
    session: Session, bank: HashBank, hash_type: HashType | None = None, chunk: int = 10000
) -> Iterator[BankEntry]:
    """Live entries of a bank in id order, fetched in chunks (keyset pagination)."""
    last = 0
    while True:
        q = select(BankEntry).where(
            BankEntry.bank_id == bank.id, BankEntry.removed_at.is_(None), BankEntry.id > last
        )
        if hash_type is not None:
            q = q.where(BankEntry.hash_type == hash_type.value)
        else:  # a vpdq entry is a frame list, exported as vPDQ files (export-video)
            q = q.where(BankEntry.hash_type != HashType.VPDQ.value)
        rows = session.scalars(q.order_by(BankEntry.id).limit(chunk)).all()
        if not rows:
            return
        yield from rows
        last = rows[-1].id


@dataclass(frozen=True)
class Match:
    """One bank entry that matched a query hash."""

    bank: str
    entry_id: int
    hash_type: str
    hash_value: str
    distance: int
    classification: str
    source: str
    query: str  # which query hash matched (e.g. "pdq", "pdq:mirror", "md5", "features")
    inliers: int | None = None  # a local-features match: keypoints that agreed


def exact_matches(session: Session, queries: dict[HashType, str], label: str = "") -> list[Match]:
    """Entries of enabled banks equal to the given cryptographic hashes."""
    out: list[Match] = []
    for ht, value in queries.items():
        rows = session.execute(
            select(BankEntry, HashBank.name)
            .join(HashBank, HashBank.id == BankEntry.bank_id)
            .where(
                HashBank.enabled.is_(True),
                BankEntry.hash_type == ht.value,
                BankEntry.hash_value == value.lower(),
                BankEntry.removed_at.is_(None),
            )
        ).all()
        for entry, bank_name in rows:
            out.append(
                Match(
                    bank=bank_name, entry_id=entry.id, hash_type=ht.value,
                    hash_value=entry.hash_value, distance=0,
                    classification=entry.classification, source=entry.source,
                    query=label or ht.value,
                )
            )  # fmt: skip
    return out


def entries_by_id(session: Session, ids: list[int]) -> dict[int, tuple[BankEntry, str]]:
    """Entries (with bank names) for PDQ index hits."""
    out: dict[int, tuple[BankEntry, str]] = {}
    for start in range(0, len(ids), 500):
        part = ids[start : start + 500]
        for entry, name in session.execute(
            select(BankEntry, HashBank.name)
            .join(HashBank, HashBank.id == BankEntry.bank_id)
            .where(BankEntry.id.in_(part))
        ).all():
            out[entry.id] = (entry, name)
    return out
