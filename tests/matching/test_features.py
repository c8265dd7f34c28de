"""ORB local features, their multi-index and RANSAC verification (generated images only)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image
from tests.media.photo_like import collage, jpeg, photo, screenshot

from openhotline.matching.features import (
    MIN_INLIERS,
    WORK_SIDE,
    FeatureIndex,
    Features,
    _extent,
    _point_keys,
    extract,
    item_features,
    query_boxes,
    query_features,
    verify,
)
from openhotline.media.decode import decode


def _crop_corner(img: Image.Image, share: float) -> Image.Image:
    w, h = img.size
    return img.crop((round(w * share), round(h * share), w, h))


@pytest.fixture(scope="module")
def index() -> FeatureIndex:
    idx = FeatureIndex()
    for item in range(4):
        idx.add(item, extract(jpeg(photo(seed=100 + item))))
    return idx


def test_features_round_trip_and_refuse_damaged_values() -> None:
    f = extract(jpeg(photo(seed=1)))
    assert 50 < len(f) <= 300
    back = Features.from_bytes(f.to_bytes())
    assert (back.points == f.points).all() and (back.descriptors == f.descriptors).all()
    assert len(f.to_bytes()) == 2 + 36 * len(f)
    for bad in (b"", b"\x05", f.to_bytes()[:-1]):
        with pytest.raises(ValueError):
            Features.from_bytes(bad)


def test_cropped_and_rotated_copies_are_found_with_inliers(index: FeatureIndex) -> None:
    pic = photo(seed=102)
    for variant in (_crop_corner(pic, 0.25), pic.rotate(15), pic.rotate(-12).resize((300, 225))):
        hits = index.search(extract(jpeg(variant)))
        assert hits and hits[0][0] == 2 and hits[0][1] >= MIN_INLIERS


def test_unrelated_picture_is_not_reported(index: FeatureIndex) -> None:
    for seed in (200, 201, 202):
        assert index.search(extract(jpeg(photo(seed=seed)))) == []


def test_photo_in_a_collage_or_screenshot_is_found(index: FeatureIndex) -> None:
    grid = collage([photo(seed=s) for s in (300, 103, 301, 302)])
    found = {i for _, f in query_features(jpeg(grid)) for i, _ in index.search(f)}
    assert found == {3}
    shot, _ = screenshot(photo(seed=101))
    found = {i for _, f in query_features(jpeg(shot)) for i, _ in index.search(f)}
    assert found == {1}


def test_empty_index_and_featureless_query() -> None:
    assert FeatureIndex().search(extract(jpeg(photo(seed=1)))) == []
    flat = extract(jpeg(Image.new("RGB", (200, 200), (90, 90, 90))))
    assert len(flat) == 0


def test_item_keeps_more_keypoints_in_the_middle_that_crops_keep() -> None:
    # Any corner crop of up to 25% keeps the middle 2x2 cells of the 4x4 grid: the stored
    # item gives them 3 keypoints per turn (uniformly, they would hold 4/16 = 25%).
    pic = photo(w=640, h=480, seed=7)
    f = item_features(jpeg(pic))
    w, h = WORK_SIDE, WORK_SIDE * 480 // 640
    x, y = f.points[:, 0].astype(float), f.points[:, 1].astype(float)
    middle = (x >= w / 4) & (x < 3 * w / 4) & (y >= h / 4) & (y < 3 * h / 4)
    assert len(f) > 200 and middle.mean() > 0.4
    plain = extract(jpeg(pic), limit=len(f))  # extract() keeps the uniform spread
    px, py = plain.points[:, 0].astype(float), plain.points[:, 1].astype(float)
    uniform = ((px >= w / 4) & (px < 3 * w / 4) & (py >= h / 4) & (py < 3 * h / 4)).mean()
    assert uniform < 0.35


def test_each_collage_cell_is_searched_with_its_own_budget() -> None:
    # The XY-cut ranks a collage's rows (two cells each) above its cells; the grid's cells
    # come first, so a photo in any of the four cells is searched at about its own scale.
    cells = [photo(seed=s) for s in (400, 401, 402, 403)]
    rgb = decode(jpeg(collage(cells)), None, min_side=WORK_SIDE // 2).frames[0]
    boxes = query_boxes(rgb)
    h, w = rgb.shape[:2]
    assert len(boxes) >= 4
    for t, b, left, r in boxes[:4]:
        assert 0.4 * h < b - t < 0.55 * h and 0.4 * w < r - left < 0.55 * w
    idx = FeatureIndex()
    for k, cell in enumerate(cells):
        idx.add(k, extract(jpeg(cell)))
    labels = query_features(jpeg(collage(cells)))
    n = len(boxes)
    assert [lbl for lbl, _ in labels] == ["features"] + [
        f"features:region{k}" for k in range(1, n + 1)
    ]
    found = set()
    for (t, b, left, r), (_, region) in zip(boxes[:4], labels[1:5], strict=True):
        cell = 2 * int((t + b) / 2 > h / 2) + int((left + r) / 2 > w / 2)
        hits = idx.search(region)
        assert hits and hits[0][0] == cell
        found.add(cell)
    assert found == {0, 1, 2, 3}


def _grid_points(x0: float, y0: float, x1: float, y1: float, n: int) -> np.ndarray:
    xs, ys = np.meshgrid(np.linspace(x0, x1, n), np.linspace(y0, y1, n))
    return np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float32)


def test_hull_is_judged_against_the_part_of_the_item_the_query_shows() -> None:
    # A copy that shows only the middle 25% x 25% of a large item: 36 inliers spread over
    # 200 x 200 px of it (4% of the item's extent, 64% of what the query shows). The old
    # rule (hull >= 8% of the whole item) refused it; the same inliers inside a query
    # that shows the whole item are still refused.
    item_extent = np.asarray([0, 0, 1000, 1000], np.float32)
    dst = _grid_points(400, 400, 600, 600, 6)
    src = dst - 375.0  # the query is the item's (375..625) square, scale 1
    crop = verify(src, dst, np.asarray([0, 0, 250, 250], np.float32), item_extent)
    assert crop.reason == "ok" and crop.inliers == crop.raw == 36
    whole = verify(dst, dst, item_extent, item_extent)
    assert whole.reason == "item hull" and whole.inliers == 0 and whole.raw == 36


def test_hull_floor_refuses_a_tiny_patch_even_when_it_fills_the_query() -> None:
    # A query that shows only a 60 x 60 patch of the item: inliers fill it, but 0.36% of
    # the item is chance territory (one textured patch), below the 4% floor.
    item_extent = np.asarray([0, 0, 1000, 1000], np.float32)
    dst = _grid_points(470, 470, 530, 530, 6)
    src = (dst - 470.0) * 4  # the patch blown up 4x (scale 0.25, inside MIN_SCALE)
    v = verify(src, dst, _extent(src), item_extent)
    assert v.inliers == 0 and v.raw == 36 and v.reason == "item hull"


def _grid3(cells: list[Image.Image], gutter: int = 4) -> Image.Image:
    """A 3x3 collage with grey gutters (the nine pictures at their own size)."""
    cw, ch = cells[0].size
    out = Image.new("RGB", (3 * cw + 4 * gutter, 3 * ch + 4 * gutter), (128, 128, 128))
    for k, c in enumerate(cells):
        out.paste(c, (gutter + (k % 3) * (cw + gutter), gutter + (k // 3) * (ch + gutter)))
    return out


@pytest.mark.parametrize("seed", [0, 3])
def test_a_photo_in_any_cell_of_a_3x3_collage_is_found(seed: int) -> None:
    # The XY-cut's four regions cover at most four of the nine cells (seed 3: the photo's
    # cell was not among them); media/grid.py's cells are all searched.
    item = photo(360, 360, seed=seed)
    cells = [photo(360, 360, seed=50 + k + seed) for k in range(9)]
    cells[(seed * 4 + 3) % 9] = item
    idx = FeatureIndex()
    idx.add(1, item_features(jpeg(item, 92)))
    best = max(
        (n for _, f in query_features(jpeg(_grid3(cells))) for _, n in idx.search(f)), default=0
    )
    assert best >= MIN_INLIERS


@pytest.mark.parametrize("seed", [1, 2])
def test_a_photo_seen_at_a_steep_angle_keeps_its_inliers(seed: int) -> None:
    # One similarity fits only a band of a perspective view; its inliers' hull failed the
    # item-hull check (0 inliers) until a near-similar homography grew them.
    import cv2

    a = np.asarray(photo(480, 360, seed=seed))
    h, w = a.shape[:2]
    k = 0.16
    m = cv2.getPerspectiveTransform(
        np.float32([[0, 0], [w, 0], [w, h], [0, h]]),
        np.float32([[0, 0], [w, h * k], [w, h * (1 - k)], [0, h]]),
    )
    seen = Image.fromarray(cv2.warpPerspective(a, m, (w, h)))
    idx = FeatureIndex()
    idx.add(1, item_features(jpeg(Image.fromarray(a), 92)))
    hits = idx.search(query_features(jpeg(seen))[0][1])
    assert hits and hits[0][1] >= MIN_INLIERS


def _stars(side: int, seed: int) -> Image.Image:
    """A generated night-sky picture: a faint glow and 400 small stars on black."""
    rng = np.random.default_rng(seed)
    img = np.zeros((side, side), np.float32)
    yy, xx = np.mgrid[0:side, 0:side]
    cx, cy = rng.uniform(0.3, 0.7, 2) * side
    img += 40 * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * (side / 6) ** 2))
    for _ in range(400):
        x, y = rng.uniform(0, side, 2)
        b, s = rng.uniform(30, 255), rng.uniform(0.5, 1.5)
        img += b * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * s * s))
    grey = np.clip(img + rng.normal(0, 2, img.shape), 0, 255).astype(np.uint8)
    return Image.fromarray(np.stack([grey, (grey * 0.8).astype(np.uint8), grey], axis=2))


@pytest.mark.parametrize("seed", [3, 5])
def test_a_small_night_sky_cell_enlarged_smoothly_is_found(seed: int) -> None:
    # A 256 px night sky in a 2x2 collage is a 128 px cell, enlarged 5x to WORK_SIDE:
    # INTER_AREA enlarges in blocks whose corners FAST takes for stars (seed 5: 18 inliers
    # with INTER_AREA, 30 with REGION_ENLARGE's cubic interpolation).
    item = _stars(256, seed)
    cells = [item] + [photo(256, 256, seed=100 + seed + k) for k in range(3)]
    idx = FeatureIndex()
    idx.add(1, item_features(jpeg(item, 92)))
    query = jpeg(collage([c.resize((128, 128)) for c in cells]))
    best = max((n for _, f in query_features(query) for _, n in idx.search(f)), default=0)
    assert best >= MIN_INLIERS


def test_point_keys_make_the_same_unique_points_as_unique_rows() -> None:
    """verify counts inliers once per item point through _point_keys: the same points and
    the same first occurrences as np.unique(points, axis=0), duplicates included."""
    rng = np.random.default_rng(5)
    for _ in range(20):
        pts = rng.integers(0, 12, (int(rng.integers(1, 200)), 2)).astype(np.float32)
        pts[rng.random(len(pts)) < 0.1] += 0.5
        want, want_first = np.unique(pts, axis=0, return_index=True)
        _, first = np.unique(_point_keys(pts), return_index=True)
        assert sorted(first.tolist()) == sorted(want_first.tolist())
        assert sorted(map(tuple, pts[first].tolist())) == sorted(map(tuple, want.tolist()))


def test_growing_stops_once_every_match_is_an_inlier(monkeypatch: pytest.MonkeyPatch) -> None:
    """A mild perspective: the first homography takes in every match, so no second one is
    fitted (it could not grow the inliers), and the verdict is the full count."""
    from openhotline.matching import features as lf

    rng = np.random.default_rng(4)
    src = rng.uniform(0, 600, (80, 2)).astype(np.float32)
    h = np.asarray([[1.0, 0.02, 10.0], [0.01, 1.0, 5.0], [0.0004, 0.0001, 1.0]])
    dst = cv2.perspectiveTransform(src.reshape(-1, 1, 2), h).reshape(-1, 2).astype(np.float32)
    m, mask = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=6.0)
    assert 8 <= int(mask.sum()) < len(src)  # the similarity alone misses some
    calls: list[int] = []
    real = cv2.findHomography
    monkeypatch.setattr(lf.cv2, "findHomography", lambda *a: calls.append(1) or real(*a))
    keep = lf._grown(m, mask.ravel().astype(bool), src, dst, _extent(src))
    assert int(keep.sum()) == len(src)
    assert len(calls) == 1
