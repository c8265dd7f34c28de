"""Local features as a stored bank signal: storage, add-image, /match, scan, settings, sync."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from tests.media.photo_like import jpeg, photo
from typer.testing import CliRunner

from openhotline.audit import service as audit
from openhotline.cli import app
from openhotline.config import get_settings
from openhotline.db import make_sessionmaker, transaction
from openhotline.matching import service
from openhotline.matching.engine import MatchEngine
from openhotline.matching.features import Features, item_features, query_features
from openhotline.matching.matcher import QueryHash, match
from openhotline.matching.models import BankFeatures, HashType
from openhotline.migrate import upgrade

pytestmark = pytest.mark.db


def _copy(img: Image.Image) -> Image.Image:
    """25% cut off two sides (a corner crop) and turned by 15 degrees: PDQ cannot see it."""
    w, h = img.size
    cropped = img.crop((round(w * 0.25), round(h * 0.25), w, h))
    return cropped.rotate(15, resample=Image.Resampling.BILINEAR)


def _add(factory: sessionmaker[Session], bank_name: str, data: bytes) -> str:
    """Add an own item with its hashes (no PDQ variants) and local features; its SHA-256."""
    from openhotline.media.service import hash_file

    h = hash_file(data)
    feats = item_features(data)
    with transaction(factory) as s:
        try:
            bank = service.get_bank(s, bank_name)
        except service.BankError:
            bank = service.create_bank(s, bank_name)
        service.add_item(
            s, bank, h.md5, h.sha256, h.pdq, [], "category A", "test",
            features=feats.to_bytes(), keypoints=len(feats),
        )  # fmt: skip
    return h.sha256


def _match_image(factory: sessionmaker[Session], engine: MatchEngine, data: bytes) -> list:  # type: ignore[type-arg]
    from openhotline.media.service import query_image

    q = query_image(data)
    queries = [QueryHash("sha256", HashType.SHA256, q.hashes.sha256)] + [
        QueryHash(c.label, HashType.PDQ, c.pdq, c.quality) for c in q.candidates
    ]
    with factory() as s:
        found = match(s, engine, queries, features=lambda: query_features(data))
    return [m for ms in found.values() for m in ms]


def test_features_are_stored_and_leave_with_the_item(factory: sessionmaker[Session]) -> None:
    data = jpeg(photo(seed=11))
    sha = _add(factory, "own", data)
    with factory() as s:
        row = s.scalars(select(BankFeatures)).one()
        back = Features.from_bytes(row.features)
        orig = item_features(data)
        assert row.item_sha256 == sha and row.keypoints == len(orig) > 50
        assert (back.points == orig.points).all() and (back.descriptors == orig.descriptors).all()
        entry = s.get(service.BankEntry, row.entry_id)
        assert entry is not None and entry.hash_type == "sha256" and entry.hash_value == sha
    _add(factory, "own", data)  # the same item again: still one live row
    with transaction(factory) as s:
        assert len(s.scalars(select(BankFeatures)).all()) == 1
        bank = service.get_bank(s, "own")
        with pytest.raises(service.BankInvalidError):  # features only on a SHA-256 entry
            md5 = s.scalars(
                select(service.BankEntry).where(service.BankEntry.hash_type == "md5")
            ).one()
            service.add_features(s, bank, md5, b"\x00\x00", 0)
        assert service.remove_entry(s, bank, HashType.SHA256, sha, "test") == 1
    with factory() as s:
        row = s.scalars(select(BankFeatures)).one()
        assert row.removed_at is not None and row.removed_by == "test"


def test_crop_and_rotation_match_by_features_only_where_pdq_found_nothing(
    factory: sessionmaker[Session], tmp_path: Path
) -> None:
    pic = photo(seed=21)
    _add(factory, "own", jpeg(pic))
    engine = MatchEngine(factory, tmp_path / "idx")
    found = _match_image(factory, engine, jpeg(_copy(pic)))
    assert [(m.bank, m.hash_type, m.query) for m in found] == [("own", "features", "features")]
    assert found[0].inliers is not None and found[0].inliers >= 20
    assert found[0].classification == "category A"
    # The file itself matches by its hashes: features are not even tried.
    same = _match_image(factory, engine, jpeg(pic))
    assert same and all(m.hash_type != "features" for m in same)
    for seed in (301, 302, 303):  # unrelated pictures
        assert _match_image(factory, engine, jpeg(photo(seed=seed))) == []


def test_settings_are_honoured_audited_and_checked(
    factory: sessionmaker[Session], tmp_path: Path
) -> None:
    pic = photo(seed=31)
    _add(factory, "own", jpeg(pic))
    engine = MatchEngine(factory, None)
    query = jpeg(_copy(pic))
    inliers = _match_image(factory, engine, query)[0].inliers
    assert inliers is not None
    with transaction(factory) as s:
        bank = service.get_bank(s, "own")
        changes = service.set_feature_settings(s, bank, "admin:1", min_inliers=inliers + 1)
        assert changes == {"features_min_inliers": [20, inliers + 1]}
        assert service.set_feature_settings(s, bank, "admin:1", min_inliers=inliers + 1) == {}
        for bad in ({"min_inliers": 7}, {"min_inliers": 301}, {"radius": 65}, {"radius": -1}):
            with pytest.raises(service.BankInvalidError):
                service.set_feature_settings(s, bank, "admin:1", **bad)  # type: ignore[arg-type]
    assert _match_image(factory, engine, query) == []  # honoured by the running engine
    with transaction(factory) as s:
        bank = service.get_bank(s, "own")
        service.set_feature_settings(s, bank, "admin:1", min_inliers=inliers)
    assert _match_image(factory, engine, query)[0].inliers == inliers
    with transaction(factory) as s:
        service.set_feature_settings(s, service.get_bank(s, "own"), "admin:2", enabled=False)
    assert _match_image(factory, engine, query) == []
    with transaction(factory) as s:
        service.set_feature_settings(s, service.get_bank(s, "own"), "admin:2", radius=0)
    with factory() as s:
        trail = [
            (e.actor, audit.details_of(e)) for e in audit.recent(s, action_prefix="bank.settings")
        ]
    assert sorted(trail, key=str) == sorted(
        [
            ("admin:1", {"features_min_inliers": [20, inliers + 1]}),
            ("admin:1", {"features_min_inliers": [inliers + 1, inliers]}),
            ("admin:2", {"features_enabled": [True, False]}),
            ("admin:2", {"features_radius": [28, 0]}),
        ],
        key=str,
    )


def test_another_process_adding_or_removing_is_seen(
    factory: sessionmaker[Session], engine: object, clock: object, tmp_path: Path
) -> None:
    pic_a, pic_b = photo(seed=41), photo(seed=42)
    _add(factory, "own", jpeg(pic_a))
    ours = MatchEngine(factory, None)
    assert _match_image(factory, ours, jpeg(_copy(pic_b))) == []
    # "Another process": its own session factory on the same database.
    other = make_sessionmaker(engine, clock)  # type: ignore[arg-type]
    sha_b = _add(other, "own", jpeg(pic_b))
    hit = _match_image(factory, ours, jpeg(_copy(pic_b)))
    assert [m.hash_value for m in hit] == [sha_b]
    with transaction(other) as s:
        service.remove_entry(s, service.get_bank(s, "own"), HashType.SHA256, sha_b, "other")
    assert _match_image(factory, ours, jpeg(_copy(pic_b))) == []
    assert _match_image(factory, ours, jpeg(_copy(pic_a)))  # the other item stays


def test_match_api_reports_local_features(api: TestClient) -> None:
    factory = api.app.state.services.sessionmaker  # type: ignore[attr-defined]
    pic = photo(seed=51)
    _add(factory, "own", jpeg(pic))
    files = {"file": ("q.jpg", jpeg(_copy(pic)), "image/jpeg")}
    body = api.post("/api/v1/match", files=files).json()
    assert body["matched"] is True, body
    (m,) = body["banks"][0]["matches"]
    assert m["hash_type"] == "features" and m["matched_by"] == "features"
    assert m["matched_how"] == f"local features, {m['inliers']} inliers" and m["inliers"] >= 20
    files = {"file": ("u.jpg", jpeg(photo(seed=304)), "image/jpeg")}
    assert api.post("/api/v1/match", files=files).json()["matched"] is False


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("OPENHOTLINE_DATA_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    upgrade(get_settings().resolved_database_url())
    yield CliRunner()
    get_settings.cache_clear()


def test_add_image_stores_features_and_scan_reports_them(cli: CliRunner, tmp_path: Path) -> None:
    pic = photo(seed=61)
    pic.save(tmp_path / "item.png")
    queries = tmp_path / "queries"
    queries.mkdir()
    _copy(pic).save(queries / "copy.jpg", quality=90)
    photo(seed=305).save(queries / "other.jpg", quality=90)
    assert cli.invoke(app, ["bank", "create", "own"]).exit_code == 0
    r = cli.invoke(app, ["bank", "add-image", "own", str(tmp_path / "item.png")])
    assert r.exit_code == 0, r.output
    assert " keypoints (sha256 " in r.stdout
    r = cli.invoke(app, ["scan", str(queries), "--bank", "own", "--workers", "1"])
    assert r.exit_code == 0, r.output
    lines = {Path(x["path"]).name: x for x in map(json.loads, r.stdout.splitlines())}
    assert lines["other.jpg"]["matches"] == []
    (m,) = lines["copy.jpg"]["matches"]
    assert m["hash_type"] == "features" and m["inliers"] >= 20
    assert m["matched_how"] == f"local features, {m['inliers']} inliers"
    # Settings by CLI: bad values refused with a message, good ones shown and honoured.
    r = cli.invoke(app, ["bank", "settings", "own", "--min-inliers", "3"])
    assert r.exit_code == 1 and "min_inliers must be between 8" in r.output
    r = cli.invoke(app, ["bank", "settings", "nope", "--min-inliers", "30"])
    assert r.exit_code == 1 and "no bank named" in r.output
    r = cli.invoke(app, ["bank", "settings", "own", "--no-features"])
    assert r.exit_code == 0 and "local features off" in r.stdout
    assert "features_enabled True -> False" in r.stdout
    r = cli.invoke(app, ["scan", str(queries), "--bank", "own", "--workers", "1"])
    lines = {Path(x["path"]).name: x for x in map(json.loads, r.stdout.splitlines())}
    assert lines["copy.jpg"]["matches"] == []
    r = cli.invoke(app, ["bank", "add-image", "own", str(tmp_path / "nope.png")])
    assert r.exit_code == 1


def test_admission_queues_a_job_that_stores_the_features(settings: object, tmp_path: Path) -> None:
    from openhotline.assessment import banks
    from openhotline.bootstrap import build
    from openhotline.jobs.models import Job
    from openhotline.matching.tasks import item_features_job
    from openhotline.media.hashing import hash_bytes
    from openhotline.media.models import Item, ItemStatus

    services = build(settings)  # type: ignore[arg-type]
    data = jpeg(photo(seed=61))
    h = hash_bytes(data)
    key = services.media_store.put(h.sha256, data)
    with transaction(services.sessionmaker) as s:
        item = Item(
            sha256=h.sha256, md5=h.md5, sha1=h.sha1, size=len(data), media_type="image/jpeg",
            storage_key=key, pdq=h.pdq, pdq_quality=h.pdq_quality, status=ItemStatus.NEW,
            source="test", weak=False,
        )  # fmt: skip
        s.add(item)
        s.flush()
        banks.admit_item_hashes(s, item, scheme="baseline", classification="A")
        item_id = item.id
    with services.sessionmaker() as s:
        (job,) = s.scalars(select(Job).where(Job.kind == "bank.features")).all()
        payload = json.loads(job.payload)
    assert payload == {"bank": "confirmed", "item_id": item_id}
    item_features_job(services, payload)
    item_features_job(services, payload)  # at-least-once delivery: idempotent
    with services.sessionmaker() as s:
        (row,) = s.scalars(select(BankFeatures)).all()
        assert row.item_sha256 == h.sha256 and row.keypoints > 50
    # The confirmed bank now finds a crop-and-rotate copy of the item by its features.
    copy = jpeg(_copy(photo(seed=61)))
    found = _match_image(services.sessionmaker, services.matcher, copy)
    assert [(m.bank, m.hash_type) for m in found] == [("confirmed", "features")]
