"""Export use cases: a signed police package for a case, and CyberTipline documents.

Services never commit: the caller owns the transaction.

The package is a zip: case.json (record and reports, never reporter contact data),
timeline.json (every CaseEvent), trace.json (if a hosting trace is known), items.csv (hashes),
assessment.json (per item: scheme, class, automatic or by whom: confirmers' user ids, age band),
media/<sha256>.enc (only where permitted: AES-256-GCM under a key made for this export and
handed over separately), manifest.json (SHA-256 and size of every file: chain of custody)
and manifest.sig (Ed25519 over manifest.json).
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import secrets
import uuid
import zipfile
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import select
from sqlalchemy.orm import Session

from openhotline import db
from openhotline.assessment.summary import item_assessment
from openhotline.audit.models import AuditAction
from openhotline.audit.service import record
from openhotline.cases.models import Case, CaseEvent
from openhotline.errors import DomainError, ErrorKind, InvalidError, NotFoundError
from openhotline.exports import cybertip
from openhotline.federation.service import trace_of
from openhotline.media.models import CaseItem, Item
from openhotline.media.store import MediaStore
from openhotline.reporting.models import Report, ReportURL
from openhotline.signing.service import SignatureError, SigningKey, verify

MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"


class ExportError(DomainError):
    """Every error export code raises on purpose (catch this); raise a kind below."""


class ExportInvalidError(ExportError, InvalidError):
    """A refused export; the message is safe to show."""

    kind = ErrorKind.INVALID


class ExportNotFoundError(ExportError, NotFoundError):
    """The thing named does not exist."""

    kind = ErrorKind.NOT_FOUND


@dataclass(frozen=True)
class PoliceExport:
    """A built package; media_key is set (base64) only when media is inside."""

    export_id: str
    data: bytes
    media_key: str | None
    files: int


def _case(session: Session, case_id: int) -> Case:
    case = session.get(Case, case_id)
    if case is None:
        raise ExportNotFoundError(f"no case {case_id}")
    return case


def _iso(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def _items(session: Session, case_id: int) -> list[tuple[Item, CaseItem]]:
    rows = session.execute(
        select(Item, CaseItem)
        .join(CaseItem, CaseItem.item_id == Item.id)
        .where(CaseItem.case_id == case_id)
        .order_by(Item.sha256)
    ).all()
    return [(i, ci) for i, ci in rows]


def _json(value: Any) -> bytes:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False).encode("utf-8")


def police_export(
    session: Session,
    case_id: int,
    key: SigningKey,
    *,
    actor: str,
    hotline: str,
    media_store: MediaStore | None = None,
    include_media: bool = False,
    trace: dict[str, Any] | None = None,
) -> PoliceExport:
    """Build the signed package for one case and audit the export."""
    case = _case(session, case_id)
    export_id = str(uuid.uuid4())
    now = db.now(session)
    reports = session.execute(
        select(Report)
        .join(ReportURL, ReportURL.report_id == Report.id)
        .where(ReportURL.case_id == case_id)
        .order_by(Report.id)
        .distinct()
    ).scalars()
    files: dict[str, bytes] = {
        "case.json": _json(
            {
                "case_id": case.id,
                "canonical_url": case.canonical_url,
                "host": case.host,
                "status": case.status,
                "report_count": case.report_count,
                **{
                    f: _iso(getattr(case, f))
                    for f in (
                        "created_at",
                        "first_assessed_at",
                        "actioned_at",
                        "removed_at",
                        "closed_at",
                    )
                },
                # Reporter contact details never leave the hotline in an export.
                "reports": [
                    {
                        "created_at": _iso(r.created_at),
                        "source": r.source,
                        "seen": r.seen,
                        "description": r.description,
                        "found_where": r.found_where,
                    }
                    for r in reports
                ],
            }
        ),
        "timeline.json": _json(
            [
                {
                    "at": _iso(e.at),
                    "kind": e.kind,
                    "from": e.from_status,
                    "to": e.to_status,
                    "actor": e.actor,
                    "detail": e.detail,
                }
                for e in session.execute(
                    select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id)
                ).scalars()
            ]
        ),
    }
    if trace is None:
        trace = trace_of(session, case_id)
    if trace is not None:
        files["trace.json"] = _json(trace)
    items = _items(session, case_id)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(
        ["sha256", "md5", "sha1", "pdq", "size", "media_type", "media_url", "captured_at"]
    )
    for item, seen in items:
        writer.writerow(
            [
                item.sha256,
                item.md5,
                item.sha1,
                item.pdq or "",
                item.size,
                item.media_type,
                seen.media_url or "",
                _iso(seen.captured_at),
            ]
        )
    files["items.csv"] = buf.getvalue().encode("utf-8")
    # The assessment travels with the hashes: scheme, class, confirmers (ids), age band.
    files["assessment.json"] = _json(
        [{"sha256": item.sha256, **item_assessment(session, item.id)} for item, _seen in items]
    )
    media_key: bytes | None = None
    media: list[dict[str, Any]] = []
    if include_media:
        if media_store is None:
            raise ExportInvalidError("media requested but no media store is configured")
        media_key = AESGCM.generate_key(bit_length=256)
        aead = AESGCM(media_key)
        for item, _seen in items:
            if not item.storage_key:
                continue
            plain = media_store.get(item.storage_key)
            if hashlib.sha256(plain).hexdigest() != item.sha256:
                raise ExportInvalidError(f"stored media of item {item.sha256} fails its hash")
            path = f"media/{item.sha256}.enc"
            files[path] = encrypt_file(aead, plain, item.sha256)
            media.append(
                {
                    "path": path,
                    "item_sha256": item.sha256,
                    "cipher": "AES-256-GCM",
                    "layout": "12-byte nonce | ciphertext+tag; AAD = item sha256",
                }
            )
    manifest_bytes, data = signed_package(
        files,
        {
            "export_id": export_id,
            "case_id": case.id,
            "created_at": now.isoformat(),
            "created_by": actor,
            "hotline": hotline,
            "media": media,
        },
        key,
    )
    record(
        session,
        actor,
        AuditAction.EXPORT_POLICE,
        f"case:{case.id}",
        {
            "export_id": export_id,
            "files": len(files),
            "media": len(media),
            "manifest_sha256": hashlib.sha256(manifest_bytes).hexdigest(),
        },
    )
    return PoliceExport(
        export_id,
        data,
        base64.b64encode(media_key).decode() if media_key else None,
        len(files),
    )


def signed_package(
    files: dict[str, bytes], header: dict[str, Any], key: SigningKey
) -> tuple[bytes, bytes]:
    """(manifest.json, zip): the files, a manifest of their SHA-256 and sizes, its signature.

    The one packaging of every signed export (police packages, victim-identification series
    packages); verify_package() checks any of them.
    """
    manifest = {
        **header,
        "signing_key_id": key.key_id,
        "signing_public_key": key.public_b64,
        "files": [
            {"path": p, "sha256": hashlib.sha256(d).hexdigest(), "size": len(d)}
            for p, d in sorted(files.items())
        ],
    }
    manifest_bytes = _json(manifest)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, data in sorted(files.items()):
            zf.writestr(path, data)
        zf.writestr(MANIFEST, manifest_bytes)
        zf.writestr(SIGNATURE, key.sign(manifest_bytes) + "\n")
    return manifest_bytes, out.getvalue()


def encrypt_file(aead: AESGCM, plain: bytes, sha256: str) -> bytes:
    """A media file for a package: 12-byte nonce | AES-256-GCM ciphertext+tag, AAD = sha256."""
    nonce = secrets.token_bytes(12)
    return nonce + aead.encrypt(nonce, plain, sha256.encode())


def decrypt_file(aead: AESGCM, blob: bytes, sha256: str) -> bytes:
    """Inverse of encrypt_file (ExportInvalidError when the key or the file is wrong)."""
    from cryptography.exceptions import InvalidTag

    try:
        return aead.decrypt(blob[:12], blob[12:], sha256.encode())
    except InvalidTag as exc:
        raise ExportInvalidError(f"media {sha256} does not decrypt with this key") from exc


def read_package(data: bytes) -> dict[str, bytes]:
    """Every file of a package already checked by verify_package()."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def verify_package(data: bytes, public_key: str) -> dict[str, Any]:
    """Check a package: the manifest's signature, then every file's size and SHA-256."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise ExportInvalidError("not a zip file") from exc
    with zf:
        names = set(zf.namelist())
        if {MANIFEST, SIGNATURE} - names:
            raise ExportInvalidError("the package has no manifest.json or manifest.sig")
        manifest_bytes = zf.read(MANIFEST)
        try:
            verify(manifest_bytes, zf.read(SIGNATURE).decode(), public_key)
        except SignatureError as exc:
            raise ExportInvalidError(f"manifest signature: {exc.args[0]}") from exc
        manifest: dict[str, Any] = json.loads(manifest_bytes)
        listed = {f["path"] for f in manifest["files"]}
        extra = names - listed - {MANIFEST, SIGNATURE}
        if extra:
            raise ExportInvalidError(f"files not in the manifest: {sorted(extra)}")
        for f in manifest["files"]:
            if f["path"] not in names:
                raise ExportInvalidError(f"{f['path']} is missing")
            body = zf.read(f["path"])
            if len(body) != f["size"] or hashlib.sha256(body).hexdigest() != f["sha256"]:
                raise ExportInvalidError(f"{f['path']} does not match the manifest")
    return manifest


def cybertip_documents(
    session: Session,
    case_id: int,
    reporter: cybertip.Reporter,
    *,
    actor: str,
    hosting_country: str,
    hotline: str,
) -> dict[str, bytes]:
    """report.xml and one fileDetails-N.xml per item, validated; US-hosted content only."""
    if hosting_country.upper() != "US":
        raise ExportInvalidError("CyberTipline reports are for content hosted in the US")
    if not reporter.email:
        raise ExportInvalidError("set OPENHOTLINE_CYBERTIP_EMAIL (the reporting person's e-mail)")
    case = _case(session, case_id)
    docs = {
        "report.xml": cybertip.report_xml(
            [case.canonical_url],
            case.created_at,
            reporter,
            summary=f"Hotline case {case.id}; host {case.host}; status {case.status}.",
            hotline=hotline,
        )
    }
    for n, (item, seen) in enumerate(_items(session, case_id), start=1):
        docs[f"fileDetails-{n}.xml"] = cybertip.file_details_xml(
            cybertip.FileHashes(item.sha256, item.md5, item.sha1, item.pdq, seen.media_url)
        )
    for name, doc in docs.items():
        try:
            cybertip.validate(doc)
        except cybertip.CybertipError as exc:
            raise ExportInvalidError(f"{name} is invalid: {exc}") from exc
    record(
        session, actor, AuditAction.EXPORT_CYBERTIP, f"case:{case.id}", {"documents": sorted(docs)}
    )
    return docs
