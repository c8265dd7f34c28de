"""ORB local features, their multi-index and RANSAC verification (generated images only)."""

from __future__ import annotations

import pytest
from PIL import Image
from tests.media.photo_like import collage, jpeg, photo, screenshot

from openhotline.matching.features import (
    MIN_INLIERS,
    FeatureIndex,
    Features,
    extract,
    query_features,
)


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
