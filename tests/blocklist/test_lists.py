"""Signed list versions and deltas, downloaded by a partner key and verified."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from openhotline.audit.models import AuditEntry
from openhotline.blocklist import service
from openhotline.blocklist.models import ListKind
from openhotline.cases.models import Case, CaseStatus
from openhotline.cases.service import move
from openhotline.cli import app
from openhotline.config import Settings
from openhotline.media.models import ItemStatus
from openhotline.partners import service as partners
from openhotline.signing.service import SignatureError, verify
from tests.blocklist.helpers import confirmed_case, confirmed_item


@pytest.fixture
def platform_key(session_factory: sessionmaker[Session]) -> dict[str, str]:
    with session_factory.begin() as s:
        org = partners.create_org(s, "Example Platform", "platform", None, actor="t")
        _key, token = partners.create_key(s, org, ["urls.read", "hashes.read"], actor="t")
    return {"Authorization": f"Bearer {token}"}


def _download(client: TestClient, path: str, headers: dict[str, str]) -> tuple[bytes, str]:
    data = client.get(path, headers=headers)
    sig = client.get(path + ".sig", headers=headers)
    assert data.status_code == 200 and sig.status_code == 200, (data.text, sig.text)
    return data.content, sig.text


def _csv_rows(data: bytes) -> list[dict[str, str]]:
    lines = [ln for ln in data.decode().splitlines() if not ln.startswith("#")]
    return list(csv.DictReader(io.StringIO("\n".join(lines))))


def test_partner_downloads_verifies_and_follows_deltas(
    client: TestClient, session_factory: sessionmaker[Session], platform_key: dict[str, str]
) -> None:
    with session_factory.begin() as s:
        confirmed_case(s, "http://one.example.test/a")
        gone = confirmed_case(s, "http://two.example.test/b", CaseStatus.ACTIONED)
        confirmed_case(s, "http://three.example.test/c", CaseStatus.TRIAGE)
        confirmed_item(s, 1)
        confirmed_item(s, 2, ItemStatus.AUTO_ASSESSED)
        confirmed_item(s, 3, ItemStatus.TRIAGE)
        v1 = service.publish_lists(s)
    assert v1[ListKind.URLS].version == 1 and v1[ListKind.URLS].entry_count == 2
    info = client.get("/api/v1/lists/urls", headers=platform_key).json()
    assert info["version"] == 1
    pub = info["public_key"]

    data, sig = _download(client, "/api/v1/lists/urls/snapshot/1.csv", platform_key)
    verify(data, sig, pub)
    assert {r["url"] for r in _csv_rows(data)} == {
        "http://one.example.test/a",
        "http://two.example.test/b",
    }
    hashes, hsig = _download(client, "/api/v1/lists/hashes/snapshot/1.json", platform_key)
    verify(hashes, hsig, pub)
    doc = json.loads(hashes)
    assert doc["version"] == 1 and len(doc["entries"]) == 2
    assert set(doc["entries"][0]) == {
        "sha256", "md5", "sha1", "pdq", "classification", "provenance"
    }  # fmt: skip
    with pytest.raises(SignatureError):
        verify(data.replace(b"one.", b"0ne."), sig, pub)

    # Removal confirmed at source: the URL leaves the next version; a new URL comes in.
    with session_factory.begin() as s:
        case = s.get(Case, gone.id)
        assert case is not None
        move(s, case, CaseStatus.REMOVED, actor="test")
        confirmed_case(s, "http://four.example.test/d")
        v2 = service.publish_lists(s)
        assert service.publish_lists(s)[ListKind.URLS].version == 2  # unchanged: same version
    assert v2[ListKind.URLS].version == 2 and v2[ListKind.HASHES].version == 1
    data2, sig2 = _download(client, "/api/v1/lists/urls/snapshot/2.csv", platform_key)
    verify(data2, sig2, pub)
    urls2 = {r["url"] for r in _csv_rows(data2)}
    assert "http://two.example.test/b" not in urls2 and "http://four.example.test/d" in urls2

    delta, dsig = _download(client, "/api/v1/lists/urls/delta/1-2.json", platform_key)
    verify(delta, dsig, pub)
    d = json.loads(delta)
    assert [e["url"] for e in d["added"]] == ["http://four.example.test/d"]
    assert [e["url"] for e in d["removed"]] == ["http://two.example.test/b"]
    cdelta, cdsig = _download(client, "/api/v1/lists/urls/delta/1-2.csv", platform_key)
    verify(cdelta, cdsig, pub)
    assert {(r["op"], r["url"]) for r in _csv_rows(cdelta)} == {
        ("add", "http://four.example.test/d"),
        ("remove", "http://two.example.test/b"),
    }
    # Applying the delta to version 1 gives version 2.
    urls1 = {r["url"] for r in _csv_rows(data)}
    assert (urls1 - {e["url"] for e in d["removed"]}) | {e["url"] for e in d["added"]} == urls2
    # A snapshot re-served (cached) is byte-identical, so old signatures stay valid.
    again, _ = _download(client, "/api/v1/lists/urls/snapshot/2.csv", platform_key)
    assert again == data2

    with session_factory() as s:
        downloads = (
            s.execute(select(AuditEntry).where(AuditEntry.action == "list.download"))
            .scalars()
            .all()
        )
    assert any(e.target == "list:urls:v1" and "Example Platform" in e.actor for e in downloads)
    assert any(e.target == "list:urls:v1-v2" for e in downloads)


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/v1/lists/urls/snapshot/9.csv", 404),
        ("/api/v1/lists/urls/snapshot/1.xml", 404),
        ("/api/v1/lists/urls/delta/1-1.csv", 422),
        ("/api/v1/lists/urls/delta/2-1.csv", 422),
        ("/api/v1/lists/domains", 404),
    ],
)
def test_bad_list_requests(
    client: TestClient,
    session_factory: sessionmaker[Session],
    platform_key: dict[str, str],
    path: str,
    status: int,
) -> None:
    with session_factory.begin() as s:
        confirmed_case(s, "http://one.example.test/a")
        service.publish_lists(s)
    r = client.get(path, headers=platform_key)
    assert r.status_code == status, r.text
    assert r.json()["error"]


def test_lists_need_a_key(client: TestClient) -> None:
    assert client.get("/api/v1/lists/urls").status_code == 401


def test_cli_export_and_verify(
    session_factory: sessionmaker[Session],
    db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from openhotline.config import get_settings

    monkeypatch.setenv("OPENHOTLINE_DATABASE_URL", db_url)
    monkeypatch.setenv("OPENHOTLINE_DATA_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    try:
        with session_factory.begin() as s:
            confirmed_case(s, "http://one.example.test/a")
        run = CliRunner().invoke
        assert "version 1" in run(app, ["lists", "publish"]).output
        out = tmp_path / "out"
        assert run(app, ["lists", "export", "urls", str(out)]).exit_code == 0
        pub = run(app, ["keys", "show"]).output.strip()
        ok = run(app, ["verify-list", str(out / "urls-v1.csv"), str(out / "urls-v1.csv.sig"), pub])
        assert ok.exit_code == 0 and ok.output.startswith("OK")
        (out / "urls-v1.csv").write_text("tampered\n")
        bad = run(app, ["verify-list", str(out / "urls-v1.csv"), str(out / "urls-v1.csv.sig"), pub])
        assert bad.exit_code == 1
        nothing = run(app, ["lists", "export", "domains", str(out)])
        assert nothing.exit_code == 1
    finally:
        get_settings.cache_clear()


def test_scheduled_rebuild_keeps_own_country_off_the_url_list(
    session_factory: sessionmaker[Session], settings: Settings
) -> None:
    from openhotline.blocklist.tasks import rebuild_lists
    from openhotline.trace.models import HostingTrace

    assert settings.own_countries == ["GB"]
    assert rebuild_lists(session_factory, settings) == {"urls": 1, "hashes": 1}
    assert rebuild_lists(session_factory, settings) == {"urls": 1, "hashes": 1}
    with session_factory.begin() as s:
        abroad = confirmed_case(s, "http://abroad.example.test/")
        home = confirmed_case(s, "http://home.example.test/")
        s.add(HostingTrace(case_id=abroad.id, host="abroad.example.test", country="GB"))
        s.add(HostingTrace(case_id=abroad.id, host="abroad.example.test", country="NL"))
        s.add(HostingTrace(case_id=home.id, host="home.example.test", country="GB"))
    assert rebuild_lists(session_factory, settings) == {"urls": 2, "hashes": 1}
    with session_factory() as s:
        urls = [r[1] for r in service.snapshot_rows(s, ListKind.URLS, 2)]
    assert urls == ["http://abroad.example.test/"]
    everything = settings.model_copy(update={"list_include_own_country": True})
    assert rebuild_lists(session_factory, everything)["urls"] == 3


def test_hash_list_follows_the_confirmed_bank(session_factory: sessionmaker[Session]) -> None:
    from openhotline.assessment.banks import confirmed_bank
    from openhotline.matching import service as matching
    from openhotline.matching.models import HashType

    with session_factory.begin() as s:
        kept = confirmed_item(s, 11)
        dropped = confirmed_item(s, 12)
        confirmed_item(s, 13, ItemStatus.TRIAGE)  # never confirmed: never listed
        assert service.publish_lists(s)[ListKind.HASHES].entry_count == 2
        matching.remove_entry(
            s, confirmed_bank(s), HashType.SHA256, dropped.sha256, removed_by="user:sue"
        )
        v2 = service.publish_lists(s)[ListKind.HASHES]
        listed = [r[0] for r in service.snapshot_rows(s, ListKind.HASHES, v2.version)]
    assert v2.version == 2 and v2.removed_count == 1 and listed == [kept.sha256]
