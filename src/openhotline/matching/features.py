"""Local features for own confirmed items: ORB keypoints, LSH tables, RANSAC verification.

PDQ describes the whole picture, so a crop of 20%, a rotation of 15 degrees or a photo
shown small inside a screenshot moves it far from the original. For the items the hotline
itself confirms we also keep binary local features: up to MAX_KEYPOINTS ORB descriptors
(256 bits each, OpenCV) with their positions. Descriptors go into LSH tables keyed by
24-bit substrings (matching/feature_index.py; the exact multi-index of PDQ took 22 s a query
at 100k items) and candidates are checked on their full Hamming distance; the items with the
most matched keypoints are verified. An item is reported only when its matched keypoints
agree on one geometric transform, checked strictly (`_verify`): a RANSAC similarity
transform (rotation, uniform scale, shift: what crops, rotations, screenshots and collages
do) with at least `min_inliers` inliers, a scale between MIN_SCALE and MAX_SCALE, inliers
whose convex hull covers a real share of both pictures and that fall into several cells of
the item. PDQ stays the fast first pass; this is the second signal ("local features, N inliers").

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

from openhotline.matching.feature_index import PROBE, TABLES, DescriptorIndex
from openhotline.matching.models import DEFAULT_FEATURE_MIN_INLIERS, DEFAULT_FEATURE_RADIUS
from openhotline.media.decode import Limits, decode
from openhotline.media.regions import find_regions

WORK_SIDE = 640  # longest side the features are computed at
MAX_KEYPOINTS = 300  # per query image (and region)
ITEM_KEYPOINTS = 300  # stored per own item (bench/features.py: 150 halves bytes, loses recall)
DETECT_KEYPOINTS = 5000  # ORB's detection budget, before the per-cell choice
DESCRIPTOR_RADIUS = DEFAULT_FEATURE_RADIUS  # Hamming radius (of 256) for a descriptor match
MIN_INLIERS = DEFAULT_FEATURE_MIN_INLIERS  # inliers needed (bench/features.py: the margin)
MIN_CANDIDATE_MATCHES = 8  # descriptor matches needed to try RANSAC on an item
RANSAC_PIXELS = 6.0  # reprojection error allowed, in WORK_SIDE pixels
MIN_SCALE, MAX_SCALE = 0.2, 5.0  # a copy is not shrunk or blown up beyond this
MIN_ITEM_HULL = 0.08  # inliers' convex hull / the item's keypoint extent
MIN_QUERY_HULL = 0.02  # the same on the query (the item may be small in a screenshot)
GRID = 4  # the item's extent split GRID x GRID for the spread check
MIN_CELLS = 4  # inliers must fall into at least this many cells
MAX_VERIFY = 32  # items verified per query, most matched keypoints first (bench/features.py)


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
        # A low FAST threshold: dark, low-contrast photos still get keypoints. A large
        # detection budget: with 1,200 a watermark's strong corners crowded out the photo's
        # own before _spread could pick per cell (bench/features.py: ~30 -> ~90 inliers).
        _ORB = cv2.ORB.create(nfeatures=DETECT_KEYPOINTS, fastThreshold=7, edgeThreshold=15)
    return _ORB


def _spread(kps: Any, w: int, h: int, limit: int, grid: int = 4) -> list[Any]:
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
    while len(out) < limit and queues:
        queues = [q for q in queues if len(q) > depth]
        out.extend(q[depth] for q in queues[: limit - len(out)])
        depth += 1
    return out


def extract_rgb(rgb: npt.NDArray[np.uint8], limit: int = MAX_KEYPOINTS) -> Features:
    """ORB features of an RGB array (resized so its longest side is WORK_SIDE)."""
    h, w = rgb.shape[:2]
    scale = WORK_SIDE / max(h, w)
    grey = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
    if scale != 1:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        grey = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
    kps = _spread(_orb().detect(grey, None), grey.shape[1], grey.shape[0], limit)
    kps, desc = _orb().compute(grey, kps)
    if desc is None or not kps:
        return Features(np.zeros((0, 2), np.uint16), np.zeros((0, 32), np.uint8))
    pts = np.asarray([kp.pt for kp in kps], dtype=np.float32)
    return Features(np.round(pts).astype(np.uint16), np.ascontiguousarray(desc, np.uint8))


def extract(data: bytes, limits: Limits | None = None, limit: int = MAX_KEYPOINTS) -> Features:
    """ORB features of an image file (raises MediaError subclasses for bad input)."""
    img = decode(data, limits, min_side=WORK_SIDE // 2)
    return extract_rgb(img.frames[0], limit)


def item_features(data: bytes, limits: Limits | None = None) -> Features:
    """The features stored for an own confirmed item (ITEM_KEYPOINTS of them)."""
    return extract(data, limits, ITEM_KEYPOINTS)


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


def _extent(points: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """(min x, min y, max x, max y) of a point set: the part of the picture with keypoints."""
    return np.concatenate([points.min(axis=0), points.max(axis=0)]).astype(np.float32)


class FeatureIndex:
    """Descriptors of many items in LSH tables (matching/feature_index.py); search verifies
    geometry on the items with the most matched keypoints."""

    def __init__(
        self, tables: int = TABLES, probe: bool = PROBE, max_verify: int = MAX_VERIFY
    ) -> None:
        self._index = DescriptorIndex(tables, probe)
        self.max_verify = max_verify

    def add(self, item_id: int, feats: Features) -> None:
        """Add (or replace) an item's features (visible to the next search)."""
        if len(feats):
            self._index.add(item_id, feats.points, feats.descriptors)
        else:
            self._index.remove(item_id)

    def add_many(
        self,
        item_ids: npt.NDArray[np.int64],
        counts: npt.NDArray[np.int64],
        points: npt.NDArray[np.uint16],
        descriptors: npt.NDArray[np.uint8],
    ) -> None:
        """Add many new items at once (bulk loads: no per-item copies)."""
        self._index.add_many(item_ids, counts, points, descriptors)

    def remove(self, item_id: int) -> None:
        """Remove an item's features (visible to the next search)."""
        self._index.remove(item_id)

    def items(self) -> int:
        """Number of items held."""
        return self._index.items()

    def __len__(self) -> int:
        """Number of live descriptors held."""
        return len(self._index)

    def nbytes(self) -> int:
        """Memory of the index's arrays (descriptors, positions, tables)."""
        return self._index.nbytes()

    def candidates(
        self, feats: Features, radius: int = DESCRIPTOR_RADIUS, need: int = 1
    ) -> list[tuple[int, npt.NDArray[np.int64], npt.NDArray[np.float32]]]:
        """(item, query keypoint rows, item positions) of the items with the most matches.

        Per item, each query keypoint keeps its closest descriptor; items with fewer than
        `need` matched keypoints are left out, the rest ranked by that count (ties: item id)
        and cut at max_verify: at 1M items many carry a few chance matches, and the copy
        being looked for has tens (bench/features.py: its rank at the recall run).
        """
        if len(feats) == 0:
            return []
        m = self._index.matches(feats.descriptors, radius)
        if not len(m.items):
            return []
        items, starts, counts = np.unique(m.items, return_index=True, return_counts=True)
        keep = np.flatnonzero(counts >= need)
        keep = keep[np.lexsort((items[keep], -counts[keep]))][: self.max_verify]
        out = []
        for k in keep.tolist():
            s0, c = int(starts[k]), int(counts[k])
            out.append((int(items[k]), m.q_rows[s0 : s0 + c], m.points[s0 : s0 + c]))
        return out

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
        for item, q_rows, pts in self.candidates(feats, radius, need):
            inliers = _verify(qpts[q_rows], pts, q_extent, self._index.extent(item))
            if on_verify is not None:
                on_verify(item, inliers)
            if inliers >= min_inliers:
                out.append((item, inliers))
        out.sort(key=lambda x: (-x[1], x[0]))
        return out


def _area(box: npt.NDArray[np.float32]) -> float:
    return float(max(box[2] - box[0], 1.0) * max(box[3] - box[1], 1.0))


def _hull_area(points: npt.NDArray[np.float32]) -> float:
    if len(points) < 3:
        return 0.0
    return float(cv2.contourArea(cv2.convexHull(points.reshape(-1, 1, 2))))


def _verify(
    src: npt.NDArray[np.float32],
    dst: npt.NDArray[np.float32],
    src_extent: npt.NDArray[np.float32],
    dst_extent: npt.NDArray[np.float32],
) -> int:
    """Inliers of a similarity transform from query to item points; 0 when not a real copy.

    A copy of an item (cropped, rotated, scaled, inside a screenshot) maps onto it by a
    rotation, a uniform scale and a shift: a full homography has 4 more degrees of freedom
    for chance agreement to use. Chance agreement also tends to be small (a few keypoints
    on one textured patch) or degenerate (everything shrunk to a point), so the inliers must
    span a share of both pictures and several cells of the item.
    """
    m, mask = cv2.estimateAffinePartial2D(
        src, dst, method=cv2.RANSAC, ransacReprojThreshold=RANSAC_PIXELS, maxIters=1000,
        confidence=0.995,
    )  # fmt: skip
    if m is None or mask is None:
        return 0
    scale = float(np.hypot(m[0, 0], m[1, 0]))
    if not MIN_SCALE <= scale <= MAX_SCALE:
        return 0
    keep = mask.ravel().astype(bool)
    # Inliers counted once per item point: many query points on one item point is a
    # repeated texture, not geometry.
    pts, first = np.unique(dst[keep], axis=0, return_index=True)
    n = len(pts)
    if n < MIN_CANDIDATE_MATCHES:
        return 0
    if _hull_area(pts) < MIN_ITEM_HULL * _area(dst_extent):
        return 0
    if _hull_area(src[keep][first]) < MIN_QUERY_HULL * _area(src_extent):
        return 0
    size = np.maximum(dst_extent[2:] - dst_extent[:2], 1.0)
    cells = np.clip(((pts - dst_extent[:2]) / size * GRID).astype(np.int64), 0, GRID - 1)
    if len({(int(x), int(y)) for x, y in cells}) < MIN_CELLS:
        return 0
    return n
