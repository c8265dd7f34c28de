"""Police packages (signed manifest, chain of custody, optional encrypted media) and
CyberTipline XML validated against the schema."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from openhotline.app import create_app
from openhotline.audit.models import AuditEntry
from openhotline.cases.models import CaseStatus
from openhotline.config import Settings
from openhotline.exports import cybertip, service
from openhotline.media.models import CaseItem, Item
from tests.blocklist.helpers import confirmed_case
from tests.console_fixtures import Staff, login, png_bytes


def _case_with_item(
    factory: sessionmaker[Session], store: object | None = None
) -> tuple[int, bytes]:
    data = png_bytes(7)
    sha = hashlib.sha256(data).hexdigest()
    with factory.begin() as s:
        case = confirmed_case(s, "http://us-host.example.test/gallery", CaseStatus.ACTIONED)
        key = store.put(sha, data) if store is not None else None  # type: ignore[attr-defined]
        item = Item(
            sha256=sha,
            md5=hashlib.md5(data).hexdigest(),  # noqa: S324 - a format, not security
            sha1=hashlib.sha1(data).hexdigest(),  # noqa: S324
            size=len(data),
            pdq="f" * 64,
            storage_key=key,
            status="assessed",
            media_type="image/png",
        )
        s.add(item)
        s.flush()
        s.add(
            CaseItem(
                case_id=case.id, item_id=item.id, media_url="http://us-host.example.test/i.png"
            )
        )
        return case.id, data


@pytest.fixture
def supervisor(
    console_settings: Settings, make_user: Callable[..., Staff]
) -> tuple[TestClient, str]:
    settings = console_settings.model_copy(
        update={"export_include_media": True, "cybertip_email": "reports@hotline.example.test"}
    )
    client = TestClient(create_app(settings))
    csrf = login(client, make_user("sue", "supervisor"))
    return client, csrf


def test_police_package_is_signed_and_complete(
    supervisor: tuple[TestClient, str], session_factory: sessionmaker[Session]
) -> None:
    client, csrf = supervisor
    store = client.app.state.services.media_store  # type: ignore[attr-defined]
    case_id, media = _case_with_item(session_factory, store)
    pub = client.app.state.services.signer.public_b64  # type: ignore[attr-defined]
    r = client.post(
        f"/api/v1/exports/cases/{case_id}/police?media=true", headers={"X-CSRF-Token": csrf}
    )
    assert r.status_code == 200, r.text
    manifest = service.verify_package(r.content, pub)
    paths = {f["path"] for f in manifest["files"]}
    sha = hashlib.sha256(media).hexdigest()
    assert {"case.json", "timeline.json", "items.csv", f"media/{sha}.enc"} <= paths
    zf = zipfile.ZipFile(io.BytesIO(r.content))
    timeline = json.loads(zf.read("timeline.json"))
    # The case reached "actioned" along the lifecycle, through "assessed".
    assert [e["to"] for e in timeline if e["kind"] == "status"] == ["assessed", "actioned"]
    assert sha in zf.read("items.csv").decode()
    # The media decrypts, with the key handed over once, to bytes with the listed hash.
    blob = zf.read(f"media/{sha}.enc")
    key = base64.b64decode(r.headers["X-Openhotline-Media-Key"])
    assert AESGCM(key).decrypt(blob[:12], blob[12:], sha.encode()) == media
    assert media not in r.content  # never in the clear

    # Tampering is caught: a changed file, a forged manifest, a foreign key.
    tampered = io.BytesIO()
    with zipfile.ZipFile(tampered, "w") as out:
        for name in zf.namelist():
            body = zf.read(name)
            out.writestr(
                name, body.replace(b"actioned", b"removed") if name == "timeline.json" else body
            )
    with pytest.raises(service.ExportError, match="does not match"):
        service.verify_package(tampered.getvalue(), pub)
    other = base64.b64encode(b"\x01" * 32).decode()
    with pytest.raises(service.ExportError, match="signature"):
        service.verify_package(r.content, other)
    with pytest.raises(service.ExportError, match="not a zip"):
        service.verify_package(b"junk", pub)
    with session_factory() as s:
        audit = s.execute(
            select(AuditEntry).where(AuditEntry.action == "export.police")
        ).scalar_one()
        assert audit.actor == "user:sue"


def test_police_package_without_media_by_default(
    client: TestClient, session_factory: sessionmaker[Session], settings: Settings
) -> None:
    case_id, _media = _case_with_item(session_factory)
    from openhotline.signing.service import load_or_create
    from openhotline.trace.models import HostingTrace

    key = load_or_create(settings.data_dir)
    with session_factory.begin() as s:
        s.add(HostingTrace(case_id=case_id, host="us-host.example.test", country="US", asn=64502))
        s.flush()
        export = service.police_export(s, case_id, key, actor="t", hotline="h")
        with pytest.raises(service.ExportError, match="no case"):
            service.police_export(s, 999, key, actor="t", hotline="h")
    assert export.media_key is None
    manifest = service.verify_package(export.data, key.public_b64)
    assert "trace.json" in {f["path"] for f in manifest["files"]}
    trace = json.loads(zipfile.ZipFile(io.BytesIO(export.data)).read("trace.json"))
    assert trace["country"] == "US" and trace["asn"] == 64502
    assert manifest["media"] == [] and not any(
        f["path"].startswith("media/") for f in manifest["files"]
    )


def test_media_export_needs_permission_setting(
    console_settings: Settings,
    make_user: Callable[..., Staff],
    session_factory: sessionmaker[Session],
) -> None:
    client = TestClient(create_app(console_settings))
    csrf = login(client, make_user("sue", "supervisor"))
    case_id, _ = _case_with_item(session_factory)
    r = client.post(
        f"/api/v1/exports/cases/{case_id}/police?media=true", headers={"X-CSRF-Token": csrf}
    )
    assert r.status_code == 403 and "not permitted" in r.json()["error"]


def test_cybertip_documents_validate(
    supervisor: tuple[TestClient, str], session_factory: sessionmaker[Session]
) -> None:
    client, _csrf = supervisor
    case_id, media = _case_with_item(session_factory)
    r = client.get(f"/api/v1/exports/cases/{case_id}/cybertip?hosting_country=DE")
    assert r.status_code == 422 and "hosted in the US" in r.json()["error"]
    r = client.get(f"/api/v1/exports/cases/{case_id}/cybertip?hosting_country=US")
    assert r.status_code == 200, r.text
    zf = zipfile.ZipFile(io.BytesIO(r.content))
    assert sorted(zf.namelist()) == ["fileDetails-1.xml", "report.xml"]
    for name in zf.namelist():
        cybertip.validate(zf.read(name))
    report = zf.read("report.xml").decode()
    assert "<url>http://us-host.example.test/gallery</url>" in report
    assert "<email>reports@hotline.example.test</email>" in report
    details = zf.read("fileDetails-1.xml").decode()
    assert f'<originalFileHash hashType="SHA256">{hashlib.sha256(media).hexdigest()}<' in details
    assert (
        r.status_code == 200
        and client.get("/api/v1/exports/cases/999/cybertip?hosting_country=US").status_code == 404
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda x: x.replace(b"<incidentType>Child", b"<incidentType>Other"), "enumeration"),
        (lambda x: x.replace(b"<url>http://", b"<url>ftp://"), "url"),
        (lambda x: x.replace(b"<reporter>", b"<reporter><bogus/>"), "bogus"),
        (lambda x: x.replace(b"<incidentDateTime>", b"<incidentDateTime>yesterday "), "dateTime"),
        (lambda x: x[:-20], "well-formed"),
        (
            lambda x: b'<!DOCTYPE r [<!ENTITY e SYSTEM "file:///etc/passwd">]><report>&e;</report>',
            "DOCTYPE",
        ),
    ],
)
def test_schema_catches_bad_reports(change: Callable[[bytes], bytes], message: str) -> None:
    from datetime import UTC, datetime

    good = cybertip.report_xml(
        ["http://a.example.test/p"], datetime(2026, 1, 1, tzinfo=UTC), cybertip.Reporter("a@b.test")
    )
    cybertip.validate(good)
    with pytest.raises(cybertip.CybertipError, match=message):
        cybertip.validate(change(good))


def test_hash_length_must_match_type() -> None:
    doc = cybertip.file_details_xml(cybertip.FileHashes("a" * 64, md5="b" * 40))
    with pytest.raises(cybertip.CybertipError, match="MD5 must be 32"):
        cybertip.validate(doc)


def test_export_cli(
    session_factory: sessionmaker[Session],
    db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from typer.testing import CliRunner

    from openhotline.cli import app
    from openhotline.config import get_settings

    monkeypatch.setenv("OPENHOTLINE_DATABASE_URL", db_url)
    monkeypatch.setenv("OPENHOTLINE_DATA_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    try:
        case_id, _ = _case_with_item(session_factory)
        run = CliRunner().invoke
        out = tmp_path / "case.zip"
        assert run(app, ["export", "police", str(case_id), str(out)]).exit_code == 0
        pub = run(app, ["keys", "show"]).output.strip()
        ok = run(app, ["export", "verify", str(out), pub])
        assert ok.exit_code == 0 and "intact" in ok.output
        out.write_bytes(out.read_bytes()[:-10])
        assert run(app, ["export", "verify", str(out), pub]).exit_code == 1
        assert run(app, ["export", "police", "999", str(out)]).exit_code == 1
    finally:
        get_settings.cache_clear()
