"""Local features for own confirmed items: ORB keypoints, a multi-index, RANSAC verification.

PDQ describes the whole picture, so a crop of 20%, a rotation of 15 degrees or a photo
shown small inside a screenshot moves it far from the original. For the items the hotline
itself confirms we also keep binary local features: up to MAX_KEYPOINTS ORB descriptors
(256 bits each, OpenCV) with their positions. Descriptors are 256-bit strings like PDQ
hashes, so they go into the same multi-index (matching/index.PDQIndex) and are searched by
exact Hamming radius. An item is reported only when its matched keypoints agree on one
geometric transform: a RANSAC homography with at least `min_inliers` inliers. PDQ stays the
fast first pass; this is the second signal ("local features, N inliers").

Storage per item: 2 + MAX_KEYPOINTS * (4 + 32) bytes at most (positions as uint16 in a
frame of WORK_SIDE pixels); bench/robustness.py reports the measured average.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from openhotline.matching.index import PDQIndex
from openhotline.media.decode import Limits, decode
from openhotline.media.regions import find_regions

WORK_SIDE = 640  # longest side the features are computed at
MAX_KEYPOINTS = 300
DESCRIPTOR_RADIUS = 28  # Hamming radius (of 256) for a descriptor match
MIN_INLIERS = 20  # RANSAC inliers needed (bench: an unrelated pair reached 16, see RESULTS)
MIN_CANDIDATE_MATCHES = 8  # descriptor matches needed to try RANSAC on an item
RANSAC_PIXELS = 6.0  # reprojection error allowed, in WORK_SIDE pixels


@dataclass(frozen=True)
class Features:
    """ORB keypoint positions (n, 2) uint16 and descriptors (n, 32) uint8 of one image."""

    points: npt.NDArray[np.uint16]
    descriptors: npt.NDArray[np.uint8]

    def __len__(self) -> int:
        return len(self.points)

    def to_bytes(self) -> bytes:
        """Compact form for storage: count, positions, descriptors."""
        return struct.pack("<H", len(self)) + self.points.tobytes() + self.descriptors.tobytes()

    @classmethod
    def from_bytes(cls, raw: bytes) -> Features:
        """Inverse of to_bytes (raises ValueError on a damaged value)."""
        if len(raw) < 2:
            raise ValueError("feature value too short")
        (n,) = struct.unpack("<H", raw[:2])
        if len(raw) != 2 + n * 36:
            raise ValueError("feature value has the wrong length")
        pts = np.frombuffer(raw, np.uint16, count=2 * n, offset=2).reshape(n, 2)
        desc = np.frombuffer(raw, np.uint8, count=32 * n, offset=2 + 4 * n).reshape(n, 32)
        return cls(pts, desc)


_ORB: Any = None


def _orb() -> Any:
    global _ORB
    if _ORB is None:
        # A low FAST threshold: dark, low-contrast photos still get keypoints.
        _ORB = cv2.ORB.create(nfeatures=4 * MAX_KEYPOINTS, fastThreshold=7, edgeThreshold=15)
    return _ORB


def _spread(kps: Any, w: int, h: int, grid: int = 4) -> list[Any]:
    """The strongest keypoints taken in turn from each cell of a grid x grid split.

    Text (captions, UI, watermarks) has the strongest corners of all; without this, a
    caption bar takes most of the keypoint budget from the photo under it.
    """
    cells: dict[tuple[int, int], list[Any]] = {}
    for kp in sorted(kps, key=lambda k: -k.response):
        x, y = kp.pt
        cells.setdefault(
            (min(grid - 1, int(x * grid / w)), min(grid - 1, int(y * grid / h))), []
        ).append(kp)
    out: list[Any] = []
    queues = list(cells.values())
    depth = 0
    while len(out) < MAX_KEYPOINTS and queues:
        queues = [q for q in queues if len(q) > depth]
        out.extend(q[depth] for q in queues[: MAX_KEYPOINTS - len(out)])
        depth += 1
    return out


def extract_rgb(rgb: npt.NDArray[np.uint8]) -> Features:
    """ORB features of an RGB array (resized so its longest side is WORK_SIDE)."""
    h, w = rgb.shape[:2]
    scale = WORK_SIDE / max(h, w)
    grey = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
    if scale != 1:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        grey = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
    kps = _spread(_orb().detect(grey, None), grey.shape[1], grey.shape[0])
    kps, desc = _orb().compute(grey, kps)
    if desc is None or not kps:
        return Features(np.zeros((0, 2), np.uint16), np.zeros((0, 32), np.uint8))
    pts = np.asarray([kp.pt for kp in kps], dtype=np.float32)
    return Features(np.round(pts).astype(np.uint16), np.ascontiguousarray(desc, np.uint8))


def extract(data: bytes, limits: Limits | None = None) -> Features:
    """ORB features of an image file (raises MediaError subclasses for bad input)."""
    img = decode(data, limits, min_side=WORK_SIDE // 2)
    return extract_rgb(img.frames[0])


def query_features(
    data: bytes, limits: Limits | None = None, max_regions: int = 2
) -> list[tuple[str, Features]]:
    """Features of a query image and of its largest embedded photos (media/regions.py).

    A photo inside a collage or screenshot gets only a share of the keypoint budget of the
    whole; its region, resized to WORK_SIDE, gets all of it.
    """
    img = decode(data, limits, min_side=WORK_SIDE // 2)
    rgb = img.frames[0]
    out = [("features", extract_rgb(rgb))]
    h, w = rgb.shape[:2]
    k = 0
    for region in find_regions(rgb):
        top, bottom, left, right = region.box
        if (bottom - top) * (right - left) > 0.6 * h * w:
            continue  # nearly the whole image: its keypoints are already there
        k += 1
        out.append((f"features:region{k}", extract_rgb(rgb[top:bottom, left:right])))
        if k >= max_regions:
            break
    return out


def _words(desc: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint64]:
    return np.ascontiguousarray(desc).view(">u8").reshape(-1, 4).astype(np.uint64)


class FeatureIndex:
    """Descriptors of many items in one multi-index; search verifies geometry per item."""

    def __init__(self) -> None:
        self._pending: list[tuple[int, Features]] = []
        self._index = PDQIndex()
        self._owner = np.zeros(0, np.int64)
        self._points = np.zeros((0, 2), np.float32)
        self._built = False

    def add(self, item_id: int, feats: Features) -> None:
        """Add an item's features (visible to the next search)."""
        if len(feats):
            self._pending.append((item_id, feats))
            self._built = False

    def _build(self) -> None:
        if self._built:
            return
        if self._pending:
            desc = np.concatenate([f.descriptors for _, f in self._pending])
            owner = np.concatenate([np.full(len(f), i, np.int64) for i, f in self._pending])
            pts = np.concatenate([f.points.astype(np.float32) for _, f in self._pending])
            start = len(self._owner)
            ids = np.arange(start, start + len(desc), dtype=np.int64)
            if start == 0:
                self._index = PDQIndex.build(_words(desc), ids)
            else:
                self._index.add(_words(desc), ids)
            self._owner = np.concatenate([self._owner, owner])
            self._points = np.concatenate([self._points, pts])
            self._pending = []
        self._built = True

    def __len__(self) -> int:
        """Number of descriptors held."""
        return len(self._owner) + sum(len(f) for _, f in self._pending)

    def nbytes(self) -> int:
        """Memory of the index and its per-descriptor arrays."""
        self._build()
        return self._index.nbytes() + self._owner.nbytes + self._points.nbytes

    def search(
        self, feats: Features, min_inliers: int = MIN_INLIERS, radius: int = DESCRIPTOR_RADIUS
    ) -> list[tuple[int, int]]:
        """(item id, inliers) of every item whose keypoints agree on one homography."""
        self._build()
        if len(feats) < MIN_CANDIDATE_MATCHES or len(self._owner) == 0:
            return []
        hits = self._index.search_batch(_words(feats.descriptors), radius)
        sizes = [len(row) for row in hits]
        if not sum(sizes):
            return []
        q_of = np.repeat(np.arange(len(hits)), sizes)
        flat = np.asarray([h for row in hits for h in row], np.int64).reshape(-1, 2)
        rid, dist = flat[:, 0], flat[:, 1]
        owner = self._owner[rid]
        # Per item, each query keypoint keeps its closest descriptor.
        order = np.lexsort((dist, q_of, owner))
        owner, q_of, rid = owner[order], q_of[order], rid[order]
        first = np.ones(len(owner), bool)
        first[1:] = (owner[1:] != owner[:-1]) | (q_of[1:] != q_of[:-1])
        owner, q_of, rid = owner[first], q_of[first], rid[first]
        items, starts, counts = np.unique(owner, return_index=True, return_counts=True)
        out = []
        qpts = feats.points.astype(np.float32)
        need = max(MIN_CANDIDATE_MATCHES, min_inliers)
        for item, s0, c in zip(items.tolist(), starts.tolist(), counts.tolist(), strict=True):
            if c < need:
                continue
            inliers = _inliers(qpts[q_of[s0 : s0 + c]], self._points[rid[s0 : s0 + c]])
            if inliers >= min_inliers:
                out.append((item, inliers))
        out.sort(key=lambda x: (-x[1], x[0]))
        return out


def _inliers(src: npt.NDArray[np.float32], dst: npt.NDArray[np.float32]) -> int:
    """Inliers of a RANSAC homography from query to item points (0 if degenerate)."""
    h, mask = cv2.findHomography(src, dst, cv2.RANSAC, RANSAC_PIXELS, maxIters=500)
    if h is None or mask is None:
        return 0
    # A homography that folds or collapses the image is chance agreement, not a copy.
    det = float(np.linalg.det(h[:2, :2]))
    if not 1 / 64 < abs(det) < 64 or det < 0:
        return 0
    # Inliers counted once per item point: many query points on one item point is a
    # repeated texture, not geometry.
    used = {tuple(p) for p in dst[mask.ravel().astype(bool)].tolist()}
    return len(used)
