"""The local-feature index before the LSH tables (main at a423f7e), for old-vs-new runs.

bench/features.py --old runs it beside matching.features.FeatureIndex in the same process:
the exact radius search of the PDQ multi-index over every descriptor, verification of every
item with enough matches. Copied unchanged but for the imports.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from openhotline.matching.features import (
    DESCRIPTOR_RADIUS,
    MIN_CANDIDATE_MATCHES,
    MIN_INLIERS,
    Features,
    _verify,
)
from openhotline.matching.index import PDQIndex


def _words(desc: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint64]:
    return np.ascontiguousarray(desc).view(">u8").reshape(-1, 4).astype(np.uint64)


def _extent(points: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """(min x, min y, max x, max y) of a point set: the part of the picture with keypoints."""
    return np.concatenate([points.min(axis=0), points.max(axis=0)]).astype(np.float32)


class OldFeatureIndex:
    """Descriptors of many items in one multi-index; search verifies geometry per item."""

    def __init__(self, delta_limit: int = 50_000) -> None:
        self._pending: list[tuple[int, Features]] = []
        self._index = PDQIndex()
        self._owner = np.zeros(0, np.int64)
        self._points = np.zeros((0, 2), np.float32)
        self._ranges: dict[int, tuple[int, int]] = {}  # item -> (first descriptor id, count)
        self._extents: dict[int, npt.NDArray[np.float32]] = {}
        self._delta_limit = delta_limit
        self._built = False

    def add(self, item_id: int, feats: Features) -> None:
        """Add an item's features (visible to the next search)."""
        if len(feats):
            self._pending.append((item_id, feats))
            self._extents[item_id] = _extent(feats.points.astype(np.float32))
            self._built = False

    def remove(self, item_id: int) -> None:
        """Remove an item's features (visible to the next search)."""
        self._pending = [(i, f) for i, f in self._pending if i != item_id]
        span = self._ranges.pop(item_id, None)
        if span is not None:
            self._index.remove(np.arange(span[0], span[0] + span[1], dtype=np.int64))
        self._extents.pop(item_id, None)

    def items(self) -> int:
        """Number of items held."""
        return len(self._extents)

    def _build(self) -> None:
        if self._built:
            return
        if self._pending:
            desc = np.concatenate([f.descriptors for _, f in self._pending])
            owner = np.concatenate([np.full(len(f), i, np.int64) for i, f in self._pending])
            pts = np.concatenate([f.points.astype(np.float32) for _, f in self._pending])
            start = len(self._owner)
            ids = np.arange(start, start + len(desc), dtype=np.int64)
            at = start
            for item, f in self._pending:
                self._ranges[item] = (at, len(f))
                at += len(f)
            if start == 0:
                self._index = PDQIndex.build(_words(desc), ids)
            else:
                self._index.add(_words(desc), ids)
                if self._index.delta_size() > self._delta_limit:
                    self._index.compact(full=False)  # the delta is scanned linearly
            self._owner = np.concatenate([self._owner, owner])
            self._points = np.concatenate([self._points, pts])
            self._pending = []
        self._built = True

    def __len__(self) -> int:
        """Number of live descriptors held."""
        self._build()
        return len(self._index)

    def nbytes(self) -> int:
        """Memory of the index and its per-descriptor arrays."""
        self._build()
        return self._index.nbytes() + self._owner.nbytes + self._points.nbytes

    def candidates(
        self, feats: Features, radius: int = DESCRIPTOR_RADIUS
    ) -> list[tuple[int, npt.NDArray[np.int64], npt.NDArray[np.int64]]]:
        """(item, query keypoint rows, item descriptor ids) per item with any descriptor hit.

        Per item, each query keypoint keeps its closest descriptor.
        """
        self._build()
        if len(feats) == 0 or len(self._owner) == 0:
            return []
        hits = self._index.search_batch(_words(feats.descriptors), radius)
        sizes = [len(row) for row in hits]
        if not sum(sizes):
            return []
        q_of = np.repeat(np.arange(len(hits)), sizes)
        flat = np.asarray([h for row in hits for h in row], np.int64).reshape(-1, 2)
        rid, dist = flat[:, 0], flat[:, 1]
        owner = self._owner[rid]
        order = np.lexsort((dist, q_of, owner))
        owner, q_of, rid = owner[order], q_of[order], rid[order]
        first = np.ones(len(owner), bool)
        first[1:] = (owner[1:] != owner[:-1]) | (q_of[1:] != q_of[:-1])
        owner, q_of, rid = owner[first], q_of[first], rid[first]
        items, starts, counts = np.unique(owner, return_index=True, return_counts=True)
        return [
            (item, q_of[s0 : s0 + c], rid[s0 : s0 + c])
            for item, s0, c in zip(items.tolist(), starts.tolist(), counts.tolist(), strict=True)
        ]

    def search(
        self,
        feats: Features,
        min_inliers: int = MIN_INLIERS,
        radius: int = DESCRIPTOR_RADIUS,
        on_verify: Any = None,
    ) -> list[tuple[int, int]]:
        """(item id, inliers) of every item whose keypoints agree on one transform.

        on_verify(item, inliers), when given, sees every candidate that went through
        verification (bench/features.py: the unrelated-pair distribution).
        """
        if len(feats) < MIN_CANDIDATE_MATCHES:
            return []
        out = []
        qpts = feats.points.astype(np.float32)
        q_extent = _extent(qpts)
        need = max(MIN_CANDIDATE_MATCHES, min_inliers)
        for item, q_rows, rid in self.candidates(feats, radius):
            if len(q_rows) < need or item not in self._extents:
                continue
            inliers = _verify(qpts[q_rows], self._points[rid], q_extent, self._extents[item])
            if on_verify is not None:
                on_verify(item, inliers)
            if inliers >= min_inliers:
                out.append((item, inliers))
        out.sort(key=lambda x: (-x[1], x[0]))
        return out
