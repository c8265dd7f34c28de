"""POST /api/v1/hash and /api/v1/match, with bad files and bad requests."""

from __future__ import annotations

import io

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image, ImageOps

pytestmark = pytest.mark.db


def scene(w: int = 400, h: int = 300, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.zeros((h, w, 3), dtype=np.float32)
    for c in range(3):
        img[..., c] = 127 + 90 * np.sin(rng.uniform(1, 5) * x / w * 6.28 + c) * np.cos(
            rng.uniform(1, 5) * y / h * 6.28
        )
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


def jpeg(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _bank_with(api: TestClient, pdq: str, md5: str) -> None:
    """Create a bank through the service layer of the app's own database."""
    from openhotline.db import transaction
    from openhotline.matching import service
    from openhotline.matching.models import HashType

    factory = api.app.state.services.sessionmaker  # type: ignore[attr-defined]
    with transaction(factory) as s:
        bank = service.create_bank(s, "partner-x")
        service.add_entry(s, bank, HashType.PDQ, pdq, classification="category A")
        service.add_entry(s, bank, HashType.MD5, md5, classification="category B")


def test_hash_upload(api: TestClient) -> None:
    data = jpeg(scene())
    r = api.post("/api/v1/hash", files={"file": ("x.jpg", data, "image/jpeg")})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["format"] == "JPEG" and len(body["pdq"]) == 64 and body["pdq_quality"] >= 50
    raw = api.post("/api/v1/hash", content=data, headers={"Content-Type": "image/jpeg"})
    assert raw.json()["sha256"] == body["sha256"]


def test_partner_key_required(api: TestClient) -> None:
    r = api.post(
        "/api/v1/hash", files={"file": ("x.jpg", b"x", "image/jpeg")}, headers={"Authorization": ""}
    )
    assert r.status_code == 401
    r = api.post("/api/v1/match", json={"hashes": []}, headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401


@pytest.mark.parametrize(
    ("data", "status", "code"),
    [
        (b"not an image at all", 422, "unsupported_format"),
        (jpeg(scene())[:1500], 422, "corrupt"),
        (b"\x89PNG\r\n\x1a\n", 422, "unsupported_format"),
    ],
)
def test_bad_uploads_get_clear_4xx(api: TestClient, data: bytes, status: int, code: str) -> None:
    for path in ("/api/v1/hash", "/api/v1/match"):
        r = api.post(path, files={"file": ("x.jpg", data, "image/jpeg")})
        assert r.status_code == status, r.text
        assert r.json()["detail"] == [code]
        assert r.json()["error"].startswith("cannot hash this file")


def test_upload_shape_errors(api: TestClient) -> None:
    r = api.post("/api/v1/hash", files={"other": ("x.jpg", b"abc", "image/jpeg")})
    assert r.status_code == 422
    r = api.post("/api/v1/hash", content=b"abc", headers={"Content-Type": "text/plain"})
    assert r.status_code == 415
    r = api.post("/api/v1/hash", content=b"", headers={"Content-Type": "image/png"})
    assert r.status_code == 422


def test_match_hashes_and_images(api: TestClient) -> None:
    img = scene(seed=4)
    data = jpeg(img)
    h = api.post("/api/v1/hash", files={"file": ("x.jpg", data, "image/jpeg")}).json()
    _bank_with(api, h["pdq"], "ab" * 16)
    r = api.post(
        "/api/v1/match",
        json={
            "hashes": [
                {"hash_type": "pdq", "hash": h["pdq"]},
                {"hash_type": "MD5", "hash": "AB" * 16},
            ]
        },
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["matched"] is True
    [bank] = body["banks"]
    assert bank["bank"] == "partner-x"
    assert [(m["hash_type"], m["distance"]) for m in bank["matches"]] == [("pdq", 0), ("md5", 0)]
    # An image upload: a mirrored, bordered copy still matches, through its candidates.
    variant = jpeg(ImageOps.expand(ImageOps.mirror(img), border=30, fill=(255, 255, 255)))
    r = api.post("/api/v1/match", files={"file": ("y.jpg", variant, "image/jpeg")})
    body = r.json()
    assert body["matched"] is True and body["hashes"]["format"] == "JPEG"
    m = body["banks"][0]["matches"][0]
    assert m["matched_by"] == "pdq:trim:flip_h" and m["distance"] <= 31
    assert m["matched_how"] == "PDQ, border trimmed, mirrored"
    # An unrelated image does not.
    r = api.post("/api/v1/match", files={"file": ("z.jpg", jpeg(scene(seed=99)), "image/jpeg")})
    assert r.json() == {"matched": False, "banks": [], "hashes": r.json()["hashes"]}


def test_match_bad_requests(api: TestClient) -> None:
    cases = [
        ({"hashes": []}, 422),
        ({"hashes": [{"hash_type": "pdq", "hash": "xyz"}]}, 422),
        ({"hashes": [{"hash_type": "tmk", "hash": "ab"}]}, 422),
        ({"hashes": [{"hash_type": "md5"}]}, 422),
        ({"other": 1}, 422),
    ]
    for body, status in cases:
        r = api.post("/api/v1/match", json=body)
        assert r.status_code == status, (body, r.text)
        assert r.json()["error"] and r.json()["detail"]
    r = api.post("/api/v1/match", content=b"{nope", headers={"Content-Type": "application/json"})
    assert r.status_code == 400


def test_match_reports_the_embedded_region_that_matched(api: TestClient) -> None:
    from tests.media.photo_like import jpeg as jpeg_of
    from tests.media.photo_like import photo, screenshot

    pic = photo(seed=21)
    h = api.post("/api/v1/hash", files={"file": ("p.jpg", jpeg_of(pic), "image/jpeg")}).json()
    _bank_with(api, h["pdq"], "cd" * 16)
    shot, _ = screenshot(pic)
    r = api.post("/api/v1/match", files={"file": ("s.jpg", jpeg_of(shot), "image/jpeg")})
    assert r.status_code == 200, r.text
    [m] = r.json()["banks"][0]["matches"]
    assert m["matched_by"].startswith("pdq:region") and m["distance"] <= 31
    assert m["matched_how"].startswith("PDQ, embedded region ")
