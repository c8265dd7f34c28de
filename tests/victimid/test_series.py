"""Victim identification end to end: suggestions, new-material alerts, known-series lists.

A synthetic series (one generated scene, its crops, re-encodes and rescales) is suggested
and accepted; a new image of it captured from a page on 127.0.0.1 raises an alert and a
police package the police partner fetches; an imported known-series list auto-assesses a
copy under the bank's policy.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from openhotline.app import create_app
from openhotline.assessment import banks as assessment_banks
from openhotline.audit.models import AuditEntry
from openhotline.bootstrap import build
from openhotline.capture.tasks import capture_case
from openhotline.cases.models import Case
from openhotline.config import Settings
from openhotline.db import transaction
from openhotline.exports.service import read_package, verify_package
from openhotline.matching import service as matching
from openhotline.matching.policy import BankPolicy
from openhotline.media.models import Item, ItemStatus
from openhotline.media.service import hash_file
from openhotline.partners import service as partners
from openhotline.reporting.schemas import ReportIn
from openhotline.reporting.service import submit_report
from openhotline.stats import service as stats
from openhotline.victimid import known, related, service
from openhotline.victimid.models import Alert, PolicePackage, SeriesMatch, VictimStatus
from openhotline.victimid.tasks import scan_new_material
from tests.console_fixtures import Items
from tests.pipeline_support import LocalSite
from tests.victimid.support import variant

pytestmark = pytest.mark.db
SERIES_SEED = 7


@pytest.fixture
def site() -> Iterator[LocalSite]:
    s = LocalSite().start()
    yield s
    s.stop()


def _capture_settings(settings: Settings, **extra: object) -> Settings:
    return settings.model_copy(
        update={"crawler_allow_networks": ["127.0.0.0/8"], "session_cookie_secure": False,
                **extra}
    )  # fmt: skip


def _series_of(factory: sessionmaker[Session], items: Items, n: int, status: VictimStatus) -> int:
    ids = [items.item(0, data=variant(SERIES_SEED, k)) for k in range(n)]
    with transaction(factory) as s:
        series = service.create_series(s, actor="user:vid", title="synthetic")
        service.update_fields(
            s, series, service.SeriesFields(victim_status=status), actor="user:vid", age_bands=[]
        )
        for item_id in ids:
            service.add_item(s, series, item_id, actor="user:vid")
        return series.id


def _capture(settings: Settings, factory: sessionmaker[Session], url: str) -> list[Item]:
    with transaction(factory) as s:
        submit_report(s, ReportIn(urls=[url]))
        case_id = s.execute(select(Case.id).order_by(Case.id.desc())).scalars().first()
    services = build(settings)
    try:
        capture_case(services, {"case_id": case_id})
        result = scan_new_material(services)
        assert result.items >= 1
    finally:
        services.close()
    with factory() as s:
        return list(s.scalars(select(Item).order_by(Item.id.desc()).limit(1)))


def test_synthetic_series_is_suggested_and_accepted(
    session_factory: sessionmaker[Session], items: Items
) -> None:
    members = [items.item(0, data=variant(SERIES_SEED, k)) for k in range(20)]
    others = [items.item(0, data=variant(seed, 0)) for seed in (21, 22, 23, 24, 25)]
    with transaction(session_factory) as s:
        series = service.create_series(s, actor="user:vid", title="synthetic")
        service.add_item(s, series, members[0], actor="user:vid")
        assert related.suggest(s, series, items.store, radius=31) == 19
        series_id = series.id
    with transaction(session_factory) as s:
        open_ = service.suggestions_of(s, series_id)
        assert sorted(i.id for _sg, i in open_) == sorted(members[1:])
        assert not {i.id for _sg, i in open_} & set(others)
        signals = {sg.signal.split(",")[0].split(" distance")[0] for sg, _i in open_}
        # Re-encodes are PDQ neighbours; crops move PDQ far and are found by local features.
        assert signals == {"PDQ", "local features"}
        for sg, _i in open_:
            service.decide_suggestion(s, sg.id, True, actor="user:vid")
    with session_factory() as s:
        assert sorted(service.member_ids(s, series_id)) == sorted(members)
        assert service.suggestions_of(s, series_id) == []
        adds = s.scalar(select(func.count()).where(AuditEntry.action == "victimid.item_add"))
        assert adds == 20
        # Nothing already decided is suggested again.
        series = service.get_series(s, series_id)
        assert related.find_related(s, series, items.store) == []


def test_new_image_from_a_page_raises_alert_and_police_package(
    settings: Settings, session_factory: sessionmaker[Session], items: Items, site: LocalSite
) -> None:
    s_set = _capture_settings(settings, victimid_police_partner="Police VID")
    with transaction(session_factory) as s:
        org = partners.create_org(s, "Police VID", "police", "AA", actor="test")
        _key, token = partners.create_key(s, org, ["referrals.receive"], actor="test")
    series_id = _series_of(session_factory, items, 4, VictimStatus.NOT_IDENTIFIED)
    with TestClient(create_app(s_set)):
        pass  # the app starts and stops on this database (nothing is pending yet)
    new = variant(SERIES_SEED, 22)  # a rescaled re-encode: a PDQ neighbour of the scene
    site.html("/gallery", '<html><body><img src="/new.jpg"></body></html>')
    site.media("/new.jpg", new, "image/jpeg")
    [item] = _capture(s_set, session_factory, site.url("/gallery"))
    assert item.sha256 == hash_file(new).sha256
    with session_factory() as s:
        alert = s.execute(select(Alert)).scalar_one()
        assert alert.series_id == series_id and alert.item_id == item.id
        assert alert.reason.startswith("new material: PDQ distance")
        pkg = s.execute(select(PolicePackage)).scalar_one()
        assert alert.package_id == pkg.id and pkg.destination == "Police VID"
        # Suggested, never linked automatically.
        assert item.id not in service.member_ids(s, series_id)
        assert [i.id for _sg, i in service.suggestions_of(s, series_id)] == [item.id]
        assert service.get_series(s, series_id).new_material_since is not None
    # The police partner fetches the signed package over the API.
    services = build(s_set)
    public = services.signer.public_b64
    services.close()
    with TestClient(create_app(s_set)) as c:
        headers = {"Authorization": f"Bearer {token}"}
        listed = c.get("/api/v1/victimid/packages", headers=headers)
        assert listed.status_code == 200, listed.text
        [entry] = listed.json()
        zipped = c.get(f"/api/v1/victimid/packages/{entry['export_id']}", headers=headers)
        assert zipped.status_code == 200
        manifest = verify_package(zipped.content, public)
        assert manifest["format"] == "openhotline-vid-series/1" and manifest["clues"] is False
        rows = list(
            csv.DictReader(io.StringIO(read_package(zipped.content)["hashes.csv"].decode()))
        )
        assert {r["item_sha256"] for r in rows} >= {item.sha256}
        # Another partner's key is refused.
        assert c.get("/api/v1/victimid/packages").status_code == 401
    # A second scan raises nothing twice.
    services = build(s_set)
    try:
        assert scan_new_material(services).alerts == []
    finally:
        services.close()


def test_known_series_list_auto_assesses_a_copy(
    settings: Settings, session_factory: sessionmaker[Session], site: LocalSite
) -> None:
    s_set = _capture_settings(settings)
    original = hash_file(variant(31, 0))
    listing = (
        "series,victim_status,hash_type,hash,classification\n"
        f"ICSE-31,identified,pdq,{original.pdq},A\n"
        f"ICSE-31,identified,md5,{original.md5},A\n"
        f"ICSE-99,not identified,md5,{'ab' * 16},A\n"
        "ICSE-99,not identified,pdq,nothex,A\n"
    ).encode()
    entries, bad = known.parse_list(listing)
    assert len(entries) == 3 and bad == ["line 5: pdq hash is not hexadecimal"]
    with transaction(session_factory) as s:
        r = known.import_list(s, "icse-known", entries, actor="user:vid", source="ICSE")
        assert (r.added, r.series_created) == (3, 2)
        assessment_banks.map_bank_classes(s, "icse-known", {"A": "baseline"}, "default", "admin")
        matching.set_policy(
            s, matching.get_bank(s, "icse-known"), BankPolicy.AUTO_ASSESS, "user:admin"
        )
    copy = variant(31, 2)  # a rescaled JPEG re-encode: never seen as such
    site.html("/p", '<img src="/copy.jpg">')
    site.media("/copy.jpg", copy, "image/jpeg")
    [item] = _capture(s_set, session_factory, site.url("/p"))
    assert item.status == ItemStatus.AUTO_ASSESSED
    with session_factory() as s:
        [(m, series)] = service.matches_of_item(s, item.id)
        assert service.describe_match(series) == "known series ICSE-31, victim identified"
        assert m.via.startswith("pdq distance") and "icse-known" in m.via
        assert s.execute(select(Alert)).first() is None  # the victim is identified
        assert s.execute(select(SeriesMatch)).scalar_one().item_id == item.id
        figures = stats.compute(s, stats.parse_period(s, None, None))
        assert figures["items_known"] == 1


def test_bad_known_list_is_a_clear_error() -> None:
    with pytest.raises(service.VictimIdInvalidError, match="missing: type, value"):
        known.parse_list(b"series,victim_status\nX,identified\n")
    with pytest.raises(service.VictimIdInvalidError, match="not valid JSON"):
        known.parse_list(b"{nope", "json")
