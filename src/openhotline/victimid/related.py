"""Finding items possibly related to a series, and new material of a series.

Signals, strongest first:
- the item's PDQ hash within `radius` of a member's (matching/index.PDQIndex over the items'
  hashes: the same multi-index that answers bank radius queries);
- local features: ORB keypoints of the item agree with a member's on one homography
  (matching/features.FeatureIndex, RANSAC) - crops and rotations PDQ misses;
- captured on the same page (case) as a member, or on the same host.
Nothing is linked here: every hit becomes a Suggestion a person accepts or rejects.
Video frame hashes are not stored per item yet, so "shared video frames" is not a signal.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from openhotline.cases.models import Case
from openhotline.matching.features import FeatureIndex, Features, extract
from openhotline.matching.index import PDQIndex, hex_to_words
from openhotline.media.decode import MediaError
from openhotline.media.models import CaseItem, Item
from openhotline.media.store import MediaStore, MediaStoreError
from openhotline.victimid import service
from openhotline.victimid.models import Series, SuggestionState

log = logging.getLogger("openhotline.victimid")
MAX_SAME_PLACE = 200  # items taken per "same page" / "same host" signal
MAX_FEATURE_MEMBERS = 50


@dataclass(frozen=True)
class Related:
    """One possibly related item with the signal that found it (best signal kept)."""

    item_id: int
    signal: str
    rank: int  # 0 PDQ, 1 features, 2 same page, 3 same host


class ItemHashes:
    """A PDQ multi-index over every item's (non-weak) PDQ hash, grown as items arrive."""

    def __init__(self) -> None:
        self._index = PDQIndex()
        self._max_id = 0
        self._count = 0
        self._last_pdq = ""  # the newest indexed item's hash: a recreated database differs
        self._lock = threading.Lock()

    def _usable(self) -> Any:
        return (Item.pdq.is_not(None), Item.weak.is_(False))

    def _catch_up(self, session: Session) -> None:
        # A database restored or recreated under the same URL: start again.
        held = session.scalar(select(func.count()).where(Item.id <= self._max_id, *self._usable()))
        last = session.scalar(select(Item.pdq).where(Item.id == self._max_id))
        if int(held or 0) != self._count or (self._count and last != self._last_pdq):
            self._index, self._max_id, self._count = PDQIndex(), 0, 0
        rows = session.execute(
            select(Item.id, Item.pdq)
            .where(Item.id > self._max_id, *self._usable())
            .order_by(Item.id)
        ).all()
        if rows:
            ids = np.asarray([r[0] for r in rows], np.int64)
            words = hex_to_words([str(r[1]) for r in rows])
            if self._count == 0:
                self._index = PDQIndex.build(words, ids)
            else:
                self._index.add(words, ids)
            self._count += len(rows)
            self._max_id = int(ids[-1])
            self._last_pdq = str(rows[-1][1])

    def near(self, session: Session, pdqs: list[str], radius: int) -> dict[int, int]:
        """item id -> smallest distance to any of the hashes, within radius."""
        with self._lock:
            self._catch_up(session)
            if not pdqs or self._count == 0:
                return {}
            out: dict[int, int] = {}
            for hits in self._index.search_batch(hex_to_words(pdqs), radius):
                for item_id, dist in hits:
                    if item_id not in out or dist < out[item_id]:
                        out[int(item_id)] = int(dist)
            return out


_ITEM_HASHES: dict[str, ItemHashes] = {}
_GUARD = threading.Lock()


def item_hashes(session: Session) -> ItemHashes:
    """The process's item index for this database."""
    key = str(session.get_bind().engine.url)
    with _GUARD:
        return _ITEM_HASHES.setdefault(key, ItemHashes())


def find_related(
    session: Session,
    series: Series,
    store: MediaStore,
    *,
    radius: int = 31,
    feature_candidates: int = 100,
) -> list[Related]:
    """Items possibly related to a series (not members, not already suggested or rejected)."""
    members = service.series_items(session, series.id)
    member_ids = {item.id for _si, item in members}
    decided = {
        s.item_id
        for s, _i in service.suggestions_of(session, series.id, state=None)
        if s.state != SuggestionState.OPEN or s.item_id in member_ids
    }
    skip = member_ids | decided
    found: dict[int, Related] = {}

    def note(item_id: int, signal: str, rank: int) -> None:
        if item_id in skip:
            return
        old = found.get(item_id)
        if old is None or rank < old.rank:
            found[item_id] = Related(item_id, signal, rank)

    pdqs = [item.pdq for _si, item in members if item.pdq and not item.weak]
    for item_id, dist in item_hashes(session).near(session, pdqs, radius).items():
        note(item_id, f"PDQ distance {dist}", 0)

    # Same page (a case's URL) and same host as a member.
    cases = set(session.scalars(select(CaseItem.case_id).where(CaseItem.item_id.in_(member_ids))))
    hosts = set(session.scalars(select(Case.host).where(Case.id.in_(cases)))) if cases else set()
    same_page = session.scalars(
        select(CaseItem.item_id).where(CaseItem.case_id.in_(cases)).limit(MAX_SAME_PLACE)
    ).all()
    for item_id in same_page:
        note(item_id, "captured on the same page", 2)
    if hosts:
        same_host = session.scalars(
            select(CaseItem.item_id)
            .join(Case, Case.id == CaseItem.case_id)
            .where(Case.host.in_(hosts))
            .limit(MAX_SAME_PLACE)
        ).all()
        for item_id in same_host:
            note(item_id, "captured on the same host", 3)

    # Local features: members against recent items and those found above by weaker signals.
    if feature_candidates and members:
        index = FeatureIndex()
        for _si, item in members[:MAX_FEATURE_MEMBERS]:
            feats = _item_features(store, item)
            if feats is not None:
                index.add(item.id, feats)
        recent = session.scalars(
            select(Item)
            .where(Item.media_type.like("image/%"), Item.storage_key.is_not(None))
            .order_by(Item.id.desc())
            .limit(feature_candidates)
        ).all()
        weaker = [r.item_id for r in found.values() if r.rank > 1]
        extra = session.scalars(select(Item).where(Item.id.in_(weaker))).all() if weaker else []
        seen: set[int] = set()
        for item in [*recent, *extra]:
            known = found.get(item.id)
            if item.id in skip or item.id in seen or (known is not None and known.rank < 1):
                continue
            seen.add(item.id)
            feats = _item_features(store, item)
            if feats is None:
                continue
            hits = index.search(feats)
            if hits:
                note(item.id, f"local features, {hits[0][1]} inliers", 1)
    return sorted(found.values(), key=lambda r: (r.rank, r.item_id))


def _item_features(store: MediaStore, item: Item) -> Features | None:
    if not item.storage_key or not item.media_type.startswith("image/"):
        return None
    try:
        return extract(store.get(item.storage_key))
    except (MediaError, MediaStoreError, ValueError) as exc:
        log.info("no local features for item %s: %s", item.id, exc)
        return None


def suggest(
    session: Session,
    series: Series,
    store: MediaStore,
    *,
    radius: int = 31,
    feature_candidates: int = 100,
) -> int:
    """Record new suggestions for a series; returns how many are new."""
    new = 0
    for r in find_related(
        session, series, store, radius=radius, feature_candidates=feature_candidates
    ):
        new += int(service.record_suggestion(session, series.id, r.item_id, r.signal))
    return new
