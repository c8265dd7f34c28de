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

Storage per item: 2 + ITEM_KEYPOINTS * (4 + 32) bytes at most (positions as uint16 in a
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
from openhotline.media.grid import grid_cells
from openhotline.media.regions import find_regions

WORK_SIDE = 640  # longest side the features are computed at
MAX_KEYPOINTS = 300  # extract()'s default
# A query's keypoints are not stored, so the whole query image gets a large budget: a crop
# keeps only part of an item's stored keypoints, and the more of the query's own are
# searched, the more of those few are met (bench RESULTS 3c, dev photos: crop 25% 66% -> 84%
# at 300 -> 1,000). Each embedded region (a collage cell, a photo in a screenshot) gets
# REGION_KEYPOINTS.
QUERY_KEYPOINTS = 1000
# A collage cell of a small photo is enlarged 2-5x to WORK_SIDE: INTER_AREA enlarges like
# nearest-neighbour, and FAST then finds the blocks' corners instead of the stars'; cubic
# interpolation and a larger budget keep the photo's own (RESULTS 3f, dev nebula photos:
# collage 46/54 -> 50/54 cubic -> 51/54 with 1,000 keypoints; CLAHE: 33/54, dropped).
REGION_KEYPOINTS = 1000
REGION_ENLARGE = cv2.INTER_CUBIC
QUERY_REGIONS = 4  # embedded regions searched per query (leaves of the XY-cut first)
ITEM_KEYPOINTS = 400  # stored per own item: 36 bytes each (RESULTS 3c: 300 vs 400)
# The item's middle 2x2 cells of the 4x4 grid get this many keypoints per turn, the others
# one: any crop that keeps at least half of each side keeps the middle, so its keypoints are
# the ones a cropped copy still has (RESULTS 3c, dev photos: crop 25% 84% -> 90% at 300).
CENTRE_WEIGHT = 3
DETECT_KEYPOINTS = 5000  # ORB's detection budget, before the per-cell choice
DESCRIPTOR_RADIUS = DEFAULT_FEATURE_RADIUS  # Hamming radius (of 256) for a descriptor match
MIN_INLIERS = DEFAULT_FEATURE_MIN_INLIERS  # inliers needed (bench/features.py: the margin)
MIN_CANDIDATE_MATCHES = 8  # descriptor matches needed to try RANSAC on an item
RANSAC_PIXELS = 6.0  # reprojection error allowed, in WORK_SIDE pixels
MIN_SCALE, MAX_SCALE = 0.2, 5.0
# The similarity's inliers are grown by a homography this close to it (share of the query
# extent's mapped diagonal per corner), GROW_ROUNDS times at most (_grown).
PERSPECTIVE_SLACK = 0.15
GROW_ROUNDS = 2  # a copy is not shrunk or blown up beyond this
# The inliers' convex hull must cover this share of the part of the item that the query
# shows (the item's keypoint extent within the query's, mapped by the transform): a 25%
# corner crop shows only 56% of the item, a panorama's keypoints lie in a band.
MIN_ITEM_HULL = 0.08
MIN_HULL_FLOOR = 0.04  # and at least this share of the item's whole keypoint extent
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


def _spread(kps: Any, w: int, h: int, limit: int, grid: int = 4, centre: int = 1) -> list[Any]:
    """The strongest keypoints taken in turn from each cell of a grid x grid split.

    Text (captions, UI, watermarks) has the strongest corners of all; without this, a
    caption bar takes most of the keypoint budget from the photo under it. The middle
    cells (those not on the grid's edge) give `centre` keypoints per turn, the others one.
    """
    cells: dict[tuple[int, int], list[Any]] = {}
    for kp in sorted(kps, key=lambda k: -k.response):
        x, y = kp.pt
        cells.setdefault(
            (min(grid - 1, int(x * grid / w)), min(grid - 1, int(y * grid / h))), []
        ).append(kp)
    queues = [
        (q, centre if 0 < cx < grid - 1 and 0 < cy < grid - 1 else 1)
        for (cx, cy), q in cells.items()
    ]
    out: list[Any] = []
    depth = 0
    while len(out) < limit and queues:
        for q, per in queues:
            out.extend(q[depth * per : (depth + 1) * per][: limit - len(out)])
        depth += 1
        queues = [(q, per) for q, per in queues if len(q) > depth * per]
    return out


def extract_rgb(
    rgb: npt.NDArray[np.uint8],
    limit: int = MAX_KEYPOINTS,
    centre: int = 1,
    enlarge: int = cv2.INTER_AREA,
) -> Features:
    """ORB features of an RGB array (resized so its longest side is WORK_SIDE).

    enlarge: the interpolation used when the array is smaller than WORK_SIDE (query regions
    pass REGION_ENLARGE; items keep INTER_AREA, which their stored features were made with).
    """
    h, w = rgb.shape[:2]
    scale = WORK_SIDE / max(h, w)
    grey = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
    if scale != 1:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        grey = cv2.resize(grey, size, interpolation=cv2.INTER_AREA if scale < 1 else enlarge)
    kps = _spread(_orb().detect(grey, None), grey.shape[1], grey.shape[0], limit, centre=centre)
    kps, desc = _orb().compute(grey, kps)
    if desc is None or not kps:
        return Features(np.zeros((0, 2), np.uint16), np.zeros((0, 32), np.uint8))
    pts = np.asarray([kp.pt for kp in kps], dtype=np.float32)
    return Features(np.round(pts).astype(np.uint16), np.ascontiguousarray(desc, np.uint8))


def extract(
    data: bytes, limits: Limits | None = None, limit: int = MAX_KEYPOINTS, centre: int = 1
) -> Features:
    """ORB features of an image file (raises MediaError subclasses for bad input)."""
    img = decode(data, limits, min_side=WORK_SIDE // 2)
    return extract_rgb(img.frames[0], limit, centre)


def item_features(
    data: bytes, limits: Limits | None = None, limit: int = ITEM_KEYPOINTS
) -> Features:
    """The features stored for an own confirmed item (ITEM_KEYPOINTS, more in the middle)."""
    return extract(data, limits, limit, CENTRE_WEIGHT)


def _contains(outer: tuple[int, int, int, int], inner: tuple[int, int, int, int]) -> bool:
    """Whether (nearly all of) box inner lies inside box outer (top, bottom, left, right)."""
    t, b = max(outer[0], inner[0]), min(outer[1], inner[1])
    left, r = max(outer[2], inner[2]), min(outer[3], inner[3])
    area = (inner[1] - inner[0]) * (inner[3] - inner[2])
    return max(0, b - t) * max(0, r - left) >= 0.9 * area


def _iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """Intersection over union of two boxes (top, bottom, left, right)."""
    t, bo = max(a[0], b[0]), min(a[1], b[1])
    left, r = max(a[2], b[2]), min(a[3], b[3])
    inter = max(0, bo - t) * max(0, r - left)
    union = (a[1] - a[0]) * (a[3] - a[2]) + (b[1] - b[0]) * (b[3] - b[2]) - inter
    return inter / union if union else 0.0


def query_boxes(
    rgb: npt.NDArray[np.uint8], max_regions: int = QUERY_REGIONS
) -> list[tuple[int, int, int, int]]:
    """The embedded regions whose features are searched: innermost first, then the rest.

    media/regions.py ranks its blocks by area x edge density, so a collage's rows (two
    cells each) come before its cells; a cell is what shows one photo whole, at a scale
    close to the item's once resized to WORK_SIDE. Nearly whole-image blocks are skipped
    (their keypoints are the whole image's).
    """
    h, w = rgb.shape[:2]
    boxes = [
        (t, b, left, r)
        for t, b, left, r in (g.box for g in find_regions(rgb))
        if (b - t) * (r - left) <= 0.6 * h * w  # else nearly the whole image
    ]
    leaves = [b for b in boxes if not any(o != b and _contains(b, o) for o in boxes)]
    ranked = leaves + [b for b in boxes if b not in leaves]
    # A grid-like collage's cells (media/grid.py) come first and all of them: the XY-cut
    # splits a dark cell at its night sky's flat rows, and a 3x3 grid has 9 cells.
    cells = grid_cells(rgb)
    rest = [b for b in ranked if all(_iou(b, c) < 0.8 for c in cells)]
    return cells + rest[:max_regions]


def query_features(
    data: bytes, limits: Limits | None = None, max_regions: int = QUERY_REGIONS
) -> list[tuple[str, Features]]:
    """Features of a query image and of its embedded photos (media/regions.py).

    A photo inside a collage or screenshot gets only a share of the keypoint budget of the
    whole; its region, resized to WORK_SIDE, gets a budget of its own.
    """
    img = decode(data, limits, min_side=WORK_SIDE // 2)
    rgb = img.frames[0]
    out = [("features", extract_rgb(rgb, QUERY_KEYPOINTS))]
    for k, (top, bottom, left, right) in enumerate(query_boxes(rgb, max_regions), 1):
        out.append(
            (
                f"features:region{k}",
                extract_rgb(rgb[top:bottom, left:right], REGION_KEYPOINTS, 1, REGION_ENLARGE),
            )
        )
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


@dataclass(frozen=True)
class Verdict:
    """What verification made of one candidate item: the inliers it counted and its reason.

    raw: RANSAC inliers of the similarity transform (once per item point) before the
    scale, hull and cell checks; inliers: raw when every check passed, else 0. The raw
    count of rejected unrelated pairs is the false-positive margin (bench/features.py).
    """

    inliers: int
    raw: int
    reason: str  # "ok" or the first check that failed


def _corners(box: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    x0, y0, x1, y1 = (float(v) for v in box)
    return np.asarray([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float32)


def _shown(
    m: npt.NDArray[Any],
    src_extent: npt.NDArray[np.float32],
    dst_extent: npt.NDArray[np.float32],
) -> float:
    """Area of the item's keypoint extent that the query's extent covers once mapped by m."""
    quad = (_corners(src_extent) @ m[:, :2].T + m[:, 2]).astype(np.float32)
    area, _ = cv2.intersectConvexConvex(quad, _corners(dst_extent))
    return max(float(area), 1.0)


def _verify(
    src: npt.NDArray[np.float32],
    dst: npt.NDArray[np.float32],
    src_extent: npt.NDArray[np.float32],
    dst_extent: npt.NDArray[np.float32],
) -> int:
    """Inliers of a similarity transform from query to item points; 0 when not a real copy."""
    return verify(src, dst, src_extent, dst_extent).inliers


def _grown(
    m: npt.NDArray[Any],
    keep: npt.NDArray[np.bool_],
    src: npt.NDArray[np.float32],
    dst: npt.NDArray[np.float32],
    src_extent: npt.NDArray[np.float32],
) -> npt.NDArray[np.bool_]:
    """The similarity's inliers, grown by a homography fitted to them when it is nearly one.

    A photo of a screen seen at an angle is a mild perspective: one similarity fits only a
    band of it within RANSAC_PIXELS, and the inliers' hull fails (RESULTS 3e: 85 inliers
    rejected by the item-hull check). A homography fitted (least squares, no RANSAC: chance
    agreement gets no new sample to choose) to those inliers and kept only when it moves no
    corner of the query's extent more than PERSPECTIVE_SLACK of its size away from the
    similarity's mapping takes in the rest of the photo's matches.
    """
    if int(keep.sum()) < MIN_CANDIDATE_MATCHES:
        return keep
    corners = _corners(src_extent)
    sim = corners @ m[:, :2].T + m[:, 2]
    size = float(np.hypot(*(sim.max(axis=0) - sim.min(axis=0))))
    out = keep
    for _ in range(GROW_ROUNDS):
        h, _mask = cv2.findHomography(src[out], dst[out], 0)
        if h is None:
            return out
        mapped = cv2.perspectiveTransform(corners.reshape(-1, 1, 2), h).reshape(-1, 2)
        if not np.isfinite(mapped).all() or np.abs(mapped - sim).max() > PERSPECTIVE_SLACK * size:
            return out
        err = np.hypot(*(cv2.perspectiveTransform(src.reshape(-1, 1, 2), h).reshape(-1, 2) - dst).T)
        grown: npt.NDArray[np.bool_] = err <= RANSAC_PIXELS
        if int(grown.sum()) <= int(out.sum()):
            return out
        out = grown
        if int(out.sum()) == len(src):  # nothing left to take in: another round cannot grow
            return out
    return out


def _point_keys(points: npt.NDArray[np.float32]) -> npt.NDArray[np.uint64]:
    """One integer per point, equal exactly when the points are (bit patterns of x and y):
    np.unique on them is np.unique(points, axis=0) without its per-call overhead."""
    bits = np.ascontiguousarray(points, np.float32).view(np.uint32).astype(np.uint64)
    return (bits[:, 0] << np.uint64(32)) | bits[:, 1]


def verify(
    src: npt.NDArray[np.float32],
    dst: npt.NDArray[np.float32],
    src_extent: npt.NDArray[np.float32],
    dst_extent: npt.NDArray[np.float32],
) -> Verdict:
    """Check that matched query points (src) and item points (dst) agree on one transform.

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
        return Verdict(0, 0, "no transform")
    keep = _grown(m, mask.ravel().astype(bool), src, dst, src_extent)
    # Inliers counted once per item point: many query points on one item point is a
    # repeated texture, not geometry.
    kept = dst[keep]
    _, first = np.unique(_point_keys(kept), return_index=True)
    pts = kept[first]
    n = len(pts)
    scale = float(np.hypot(m[0, 0], m[1, 0]))
    if not MIN_SCALE <= scale <= MAX_SCALE:
        return Verdict(0, n, "scale")
    if n < MIN_CANDIDATE_MATCHES:
        return Verdict(0, n, "too few")
    shown = _shown(m, src_extent, dst_extent)
    hull = _hull_area(pts)
    if hull < MIN_ITEM_HULL * shown or hull < MIN_HULL_FLOOR * _area(dst_extent):
        return Verdict(0, n, "item hull")
    if _hull_area(src[keep][first]) < MIN_ITEM_HULL * shown / scale**2:
        return Verdict(0, n, "query hull")
    size = np.maximum(dst_extent[2:] - dst_extent[:2], 1.0)
    cells = np.clip(((pts - dst_extent[:2]) / size * GRID).astype(np.int64), 0, GRID - 1)
    if len(np.unique(cells[:, 0] * GRID + cells[:, 1])) < MIN_CELLS:
        return Verdict(0, n, "cells")
    return Verdict(n, n, "ok")
