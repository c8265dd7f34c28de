"""The match engine: one PDQ index per enabled bank, kept in step with the database.

Each bank's index is loaded from disk (or rebuilt from the database if missing or damaged),
but only used once it is proved to match the database: its files pass their checksums and
bounds, and every live entry up to the saved checkpoint is in it with the same hash (a
restored database, damage or a missed entry means a rebuild, with one log line). It is then
synced incrementally: entries with a higher id are added, removed entries become
tombstones. Syncing is one small query per call when nothing changed, so a hash added or
removed by any process is visible to the next match. Compaction runs in a background
thread and the compacted index is written back to disk.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from openhotline.matching.index import HashArray, PDQIndex, SegmentParts, hex_to_words
from openhotline.matching.models import BankEntry, BankFeatures, BankVideoFrame, HashBank, HashType

if TYPE_CHECKING:  # features.py imports OpenCV: only loaded once a bank has features
    from openhotline.matching.features import FeatureIndex, Features

log = logging.getLogger("openhotline.matching")
COMPACT_DELTA = 50_000  # compact when the delta holds more rows than this
COMPACT_DEAD = 0.10  # ... or when more than this share of segment rows is removed
LOAD_CHUNK = 200_000
VPDQ_MIN_QUALITY = 50  # vPDQ's own threshold: weaker frames are not indexed


@dataclass
class _BankIndex:
    index: PDQIndex
    version: int
    max_id: int
    removed: int  # removed PDQ entries already applied


@dataclass(frozen=True)
class _Checkpoint:
    """The bank state a saved index holds: entries up to max_id, how many, and their digest."""

    max_id: int
    live: int
    digest: str

    def dump(self) -> str:
        """As the index's stamp."""
        return json.dumps({"max_id": self.max_id, "live": self.live, "digest": self.digest})

    @classmethod
    def parse(cls, stamp: str) -> _Checkpoint:
        """From a stamp (ValueError/KeyError/TypeError when it is not one)."""
        raw = json.loads(stamp)
        return cls(int(raw["max_id"]), int(raw["live"]), str(raw["digest"]))


class _Digest:
    """SHA-256 over (id, hash) records in id order; the same bytes however it is chunked."""

    RECORD = np.dtype([("id", "<i8"), ("words", "<u8", (4,))])

    def __init__(self) -> None:
        self._h = hashlib.sha256()

    def update(self, ids: npt.NDArray[np.int64], words: HashArray) -> None:
        """Add records (ids ascending, continuing the previous ones)."""
        rec = np.empty(len(ids), dtype=self.RECORD)
        rec["id"] = ids
        rec["words"] = words
        self._h.update(rec.tobytes())

    def hexdigest(self) -> str:
        """The digest so far."""
        return self._h.hexdigest()


@dataclass(frozen=True)
class PDQHit:
    """A PDQ index hit: which query, which bank, which entry, how far."""

    query: int
    bank_id: int
    bank: str
    entry_id: int
    distance: int


@dataclass
class _FeatureState:
    """A bank's local features in memory: kept in step with bank_features like the PDQ index."""

    index: FeatureIndex  # keyed by bank_features.id
    version: int
    max_id: int
    removed: int  # removed rows already applied
    entry_of: dict[int, int]  # bank_features.id -> the item's SHA-256 entry id


@dataclass(frozen=True)
class FeatureBank:
    """A bank with local features to search, and its settings."""

    bank_id: int
    name: str
    min_inliers: int
    radius: int


@dataclass(frozen=True)
class FeatureHit:
    """An item whose local features agreed with a query's: which query, bank, entry, inliers."""

    query: str
    bank_id: int
    bank: str
    entry_id: int
    inliers: int


class MatchEngine:
    """Thread-safe PDQ matching over the enabled banks (and local features of own items)."""

    def __init__(
        self, factory: sessionmaker[Session], index_dir: Path | None, *, frames: bool = False
    ) -> None:
        self.factory = factory
        self.index_dir = index_dir
        self._banks: dict[int, _BankIndex] = {}
        self._lock = threading.Lock()
        self._compacting: set[int] = set()
        self._features: dict[int, _FeatureState] = {}
        self._flock = threading.Lock()
        # The same index serves two tables: PDQ bank entries, and (frames=True) the frame
        # hashes of vpdq entries, so a video's frames are looked up in the multi-index too.
        self._rows: Any = BankVideoFrame if frames else BankEntry
        self._only: tuple[Any, ...] = (
            (BankVideoFrame.quality >= VPDQ_MIN_QUALITY,)
            if frames
            else (BankEntry.hash_type == HashType.PDQ.value,)
        )
        self.video: MatchEngine | None = None
        if not frames:
            video_dir = None if index_dir is None else index_dir / "vpdq-frames"
            self.video = MatchEngine(factory, video_dir, frames=True)

    def _of(self, bank_id: int) -> list[Any]:
        """The clauses selecting this engine's rows of one bank."""
        return [self._rows.bank_id == bank_id, *self._only]

    def _folder(self, bank_id: int) -> Path | None:
        return None if self.index_dir is None else self.index_dir / f"bank-{bank_id}"

    def sync(self, session: Session) -> list[tuple[int, str, int]]:
        """Bring every enabled bank's index up to date; returns (id, name, radius) of each."""
        banks = session.execute(
            select(HashBank.id, HashBank.name, HashBank.pdq_radius, HashBank.version).where(
                HashBank.enabled.is_(True)
            )
        ).all()
        with self._lock:
            for bank_id, _name, _radius, version in banks:
                state = self._banks.get(bank_id)
                if state is None:
                    state = self._open(session, bank_id)
                    self._banks[bank_id] = state
                if state.version != version:
                    if version < state.version:  # the database went back: a restore
                        state = self._recheck(session, bank_id, state)
                        self._banks[bank_id] = state
                    self._catch_up(session, bank_id, state)
                    state.version = version
        for bank_id, *_ in banks:
            self._maybe_compact(bank_id)
        return [(b[0], b[1], b[2]) for b in banks]

    @contextmanager
    def _files_locked(self, bank_id: int) -> Iterator[None]:
        """Hold the bank's index folder against other processes (serve workers, CLI).

        Two server processes starting together must not both write the folder (they share
        its temporary name): the first builds and saves, the second waits and loads it.
        """
        folder = self._folder(bank_id)
        if folder is None:
            yield
            return
        try:
            folder.parent.mkdir(parents=True, exist_ok=True)
            fh = open(folder.with_name(folder.name + ".lock"), "a+b")  # noqa: SIM115
        except OSError as exc:  # a read-only data dir: the index still works from memory
            log.warning("no lock file for the index of bank %s: %s", bank_id, exc)
            yield
            return
        with fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _open(self, session: Session, bank_id: int) -> _BankIndex:
        with self._files_locked(bank_id):
            return self._open_locked(session, bank_id)

    def _open_locked(self, session: Session, bank_id: int) -> _BankIndex:
        folder = self._folder(bank_id)
        if folder is not None and folder.exists():
            try:
                index, stamp = PDQIndex.load(folder)  # checksums and bounds checked
                checkpoint = _Checkpoint.parse(stamp)
                state = _BankIndex(index, -1, checkpoint.max_id, 0)
                problem = self._reconcile(session, bank_id, state, checkpoint)
            except Exception as exc:  # any damage at all means a rebuild, never a crash
                problem = f"unreadable ({type(exc).__name__}: {exc})"
            if problem is None:
                self._catch_up(session, bank_id, state)
                return state
            log.warning("index of bank %s %s; rebuilding from the database", bank_id, problem)
        return self._rebuild(session, bank_id, locked=True)

    def _live_entries(
        self, session: Session, bank_id: int, upto: int | None = None
    ) -> Iterator[tuple[npt.NDArray[np.int64], HashArray]]:
        """The bank's live PDQ entries (id <= upto), ascending, in chunks of ids and words."""
        last = 0
        while True:
            t = self._rows
            query = select(t.id, t.hash_value).where(
                *self._of(bank_id), t.removed_at.is_(None), t.id > last
            )
            if upto is not None:
                query = query.where(t.id <= upto)
            rows = session.execute(query.order_by(t.id).limit(LOAD_CHUNK)).all()
            if not rows:
                return
            ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            yield ids, hex_to_words([r[1] for r in rows])
            last = int(rows[-1][0])

    def _reconcile(
        self, session: Session, bank_id: int, state: _BankIndex, checkpoint: _Checkpoint | None
    ) -> str | None:
        """Prove the index holds exactly the bank's live entries up to state.max_id.

        Every live entry must be in the index with the same hash (else the reason is
        returned: the index must be rebuilt); index rows the database no longer has live
        (removed since the save, or lost with a restore) become tombstones.
        """
        newest = session.scalar(select(func.max(self._rows.id)).where(*self._of(bank_id)))
        # After a restore the database may reuse ids above its newest one: catch-up must
        # start from there, and index rows above it are not in the database at all.
        state.max_id = min(state.max_id, int(newest or 0))
        digest = _Digest()
        seen: list[npt.NDArray[np.int64]] = []
        missing = 0
        for ids, words in self._live_entries(session, bank_id, upto=state.max_id):
            digest.update(ids, words)
            # Found through each entry's hash (its bucket), not a scan of the id column.
            found, held = state.index.lookup(ids, words)
            missing += int(np.count_nonzero(~found | np.any(held != words, axis=1)))
            seen.append(ids)
        live = np.concatenate(seen) if seen else np.zeros(0, dtype=np.int64)
        exact = (
            checkpoint is not None
            and (checkpoint.live, checkpoint.digest) == (len(live), digest.hexdigest())
            and len(state.index) == len(live)
        )
        if not exact:
            extra = np.setdiff1d(state.index.live_ids(), live, assume_unique=True)
            if missing:
                return (
                    f"does not match the database ({missing} live entries missing or "
                    f"different, {len(extra)} not live)"
                )
            state.index.remove(extra)
        state.removed = self._removed_count(session, bank_id)
        return None

    def _recheck(self, session: Session, bank_id: int, state: _BankIndex) -> _BankIndex:
        """Re-prove a loaded index against the database (after a restore); rebuild if wrong."""
        problem = self._reconcile(session, bank_id, state, None)
        if problem is None:
            return state
        log.warning("index of bank %s %s; rebuilding from the database", bank_id, problem)
        return self._rebuild(session, bank_id)

    def _rebuild(self, session: Session, bank_id: int, *, locked: bool = False) -> _BankIndex:
        """Build a bank's index from the database and persist it."""
        removed = self._removed_count(session, bank_id)
        ids: list[np.ndarray] = []
        words: list[np.ndarray] = []
        for chunk_ids, chunk_words in self._live_entries(session, bank_id):
            ids.append(chunk_ids)
            words.append(chunk_words)
        last = int(ids[-1][-1]) if ids else 0
        # The concatenation is ours alone: the index reorders and keeps it (no copy).
        index = (
            PDQIndex.build(np.concatenate(words), np.concatenate(ids), own=True)
            if ids
            else PDQIndex()
        )
        state = _BankIndex(index, -1, last, removed)
        self._save(bank_id, state, locked=locked)
        return state

    def _removed_count(self, session: Session, bank_id: int) -> int:
        return int(
            session.scalar(
                select(func.count())
                .select_from(self._rows)
                .where(*self._of(bank_id), self._rows.removed_at.is_not(None))
            )
            or 0
        )

    def _catch_up(self, session: Session, bank_id: int, state: _BankIndex) -> None:
        rows = session.execute(
            select(self._rows.id, self._rows.hash_value).where(
                *self._of(bank_id), self._rows.removed_at.is_(None), self._rows.id > state.max_id
            )
        ).all()
        if rows:
            state.index.add(hex_to_words([r[1] for r in rows]), [int(r[0]) for r in rows])
            state.max_id = max(state.max_id, max(int(r[0]) for r in rows))
        removed = self._removed_count(session, bank_id)
        if removed != state.removed:
            gone = session.execute(
                select(self._rows.id, self._rows.hash_value).where(
                    *self._of(bank_id),
                    self._rows.removed_at.is_not(None),
                    self._rows.id <= state.max_id,
                )
            ).all()
            if gone:
                # With their hashes the rows are found through their buckets (the index's
                # rows are not in id order; by id alone it would scan the id column).
                state.index.remove([int(r[0]) for r in gone], hex_to_words([r[1] for r in gone]))
            state.removed = removed

    def _save(self, bank_id: int, state: _BankIndex, *, locked: bool = False) -> None:
        if locked:
            self._save_locked(bank_id, state)
            return
        with self._files_locked(bank_id):
            self._save_locked(bank_id, state)

    def _save_locked(self, bank_id: int, state: _BankIndex) -> None:
        folder = self._folder(bank_id)
        if folder is None:
            return
        try:
            # The checkpoint describes what the index holds, to be proved again at load.
            digest = _Digest()
            live = 0
            for ids, words in state.index.live_entries():
                digest.update(ids, words)
                live += len(ids)
            checkpoint = _Checkpoint(state.max_id, live, digest.hexdigest())
            state.index.save(folder, stamp=checkpoint.dump())
        except OSError as exc:  # the index still works from memory
            log.warning("could not persist index of bank %s: %s", bank_id, exc)
            return
        try:
            # Built in this process's memory; from now on read from the shared files.
            state.index.share_from(folder)
        except (OSError, ValueError) as exc:
            log.warning("index of bank %s stays in memory: %s", bank_id, exc)

    def _maybe_compact(self, bank_id: int) -> None:
        state = self._banks.get(bank_id)
        if state is None or bank_id in self._compacting:
            return
        idx = state.index
        if idx.delta_size() <= COMPACT_DELTA and idx.dead_fraction() <= COMPACT_DEAD:
            return
        self._compacting.add(bank_id)

        def work() -> None:
            try:
                idx.compact(full=idx.dead_fraction() > COMPACT_DEAD)
                self._save(bank_id, state)
            finally:
                self._compacting.discard(bank_id)

        threading.Thread(target=work, name=f"compact-bank-{bank_id}", daemon=True).start()

    def wait_idle(self, timeout: float = 60.0) -> None:
        """Wait for background compactions (tests, CLI exit)."""
        for t in list(threading.enumerate()):
            if t.name.startswith("compact-bank-"):
                t.join(timeout)

    def match_pdq(
        self, session: Session, hashes: list[str], banks_only: set[str] | None = None
    ) -> list[PDQHit]:
        """Hits of each query hash in every enabled bank (or those named), within its radius."""
        banks = self.sync(session)
        if banks_only is not None:
            banks = [b for b in banks if b[1] in banks_only]
        if not hashes:
            return []
        queries = hex_to_words(hashes)
        hits: list[PDQHit] = []
        for bank_id, name, radius in banks:
            index = self._banks[bank_id].index
            if len(queries) == 1:
                results = [index.search(queries[0], radius)]
            else:
                results = index.search_batch(queries, radius)
            for qi, res in enumerate(results):
                hits.extend(PDQHit(qi, bank_id, name, eid, dist) for eid, dist in res)
        return hits

    def frozen(self, session: Session, bank_ids: set[int]) -> dict[int, list[SegmentParts]]:
        """The named banks' indexes, brought up to date, as plain arrays (bulk scans)."""
        self.sync(session)
        with self._lock:
            return {b: s.index.to_parts() for b, s in self._banks.items() if b in bank_ids}

    def forget(self, bank_id: int) -> None:
        """Drop a bank's in-memory index (it is reloaded or rebuilt on next use)."""
        with self._lock:
            self._banks.pop(bank_id, None)
        if self.video is not None:
            self.video.forget(bank_id)
        with self._flock:
            self._features.pop(bank_id, None)

    def sync_features(
        self, session: Session, banks_only: set[str] | None = None
    ) -> list[FeatureBank]:
        """Bring the local features of enabled banks up to date; those that hold any.

        Built lazily on first use; then, like the PDQ index, one small query per call when
        the bank's version is unchanged, and rows added or removed by any process (a higher
        id, a removed_at) are applied when it moved on. A version that went back (a restored
        database) means a reload.
        """
        query = select(
            HashBank.id, HashBank.name, HashBank.features_min_inliers,
            HashBank.features_radius, HashBank.version,
        ).where(HashBank.enabled.is_(True), HashBank.features_enabled.is_(True))  # fmt: skip
        if banks_only is not None:
            query = query.where(HashBank.name.in_(banks_only))
        out: list[FeatureBank] = []
        with self._flock:
            for bank_id, name, min_inliers, radius, version in session.execute(query).all():
                state = self._features.get(bank_id)
                if state is None or version < state.version:
                    state = self._load_features(session, bank_id, version)
                    self._features[bank_id] = state
                elif state.version != version:
                    self._features_catch_up(session, bank_id, state)
                    state.version = version
                if state.index.items():
                    out.append(FeatureBank(bank_id, name, min_inliers, radius))
        return out

    def _load_features(self, session: Session, bank_id: int, version: int) -> _FeatureState:
        from openhotline.matching.features import FeatureIndex

        state = _FeatureState(FeatureIndex(), version, 0, 0, {})
        self._features_catch_up(session, bank_id, state)
        return state

    def _features_catch_up(self, session: Session, bank_id: int, state: _FeatureState) -> None:
        from openhotline.matching.features import Features

        while True:
            rows = session.execute(
                select(BankFeatures.id, BankFeatures.entry_id, BankFeatures.features)
                .where(
                    BankFeatures.bank_id == bank_id,
                    BankFeatures.removed_at.is_(None),
                    BankFeatures.id > state.max_id,
                )
                .order_by(BankFeatures.id)
                .limit(LOAD_CHUNK // 20)
            ).all()
            if not rows:
                break
            for row_id, entry_id, blob in rows:
                try:
                    feats = Features.from_bytes(bytes(blob))
                except ValueError as exc:  # one damaged row must not stop matching
                    log.warning("local features %s of bank %s unreadable: %s", row_id, bank_id, exc)
                    continue
                state.index.add(int(row_id), feats)
                state.entry_of[int(row_id)] = int(entry_id)
            state.max_id = int(rows[-1][0])
        removed = int(
            session.scalar(
                select(func.count())
                .select_from(BankFeatures)
                .where(BankFeatures.bank_id == bank_id, BankFeatures.removed_at.is_not(None))
            )
            or 0
        )
        if removed != state.removed:
            gone = session.scalars(
                select(BankFeatures.id).where(
                    BankFeatures.bank_id == bank_id,
                    BankFeatures.removed_at.is_not(None),
                    BankFeatures.id <= state.max_id,
                )
            ).all()
            for row_id in gone:
                if state.entry_of.pop(int(row_id), None) is not None:
                    state.index.remove(int(row_id))
            state.removed = removed

    def match_features(
        self, queries: list[tuple[str, Features]], banks: list[FeatureBank]
    ) -> list[FeatureHit]:
        """Items of these banks whose keypoints agree with a query's, best query per entry."""
        best: dict[tuple[int, int], FeatureHit] = {}
        for bank in banks:
            with self._flock:
                state = self._features.get(bank.bank_id)
                if state is None:
                    continue
                for label, feats in queries:
                    for row_id, inliers in state.index.search(feats, bank.min_inliers, bank.radius):
                        entry = state.entry_of.get(row_id)
                        if entry is None:
                            continue
                        key = (bank.bank_id, entry)
                        if key not in best or inliers > best[key].inliers:
                            best[key] = FeatureHit(label, bank.bank_id, bank.name, entry, inliers)
        return sorted(best.values(), key=lambda h: (h.bank, -h.inliers, h.entry_id))
