"""ICSE-style series packages: export one series, import one from another hotline.

A package is the signed zip of exports.service.signed_package (manifest.json with the SHA-256
and size of every file, manifest.sig over it with the hotline's Ed25519 key):
- series.json: reference, kind, victim-identification fields, origin, counts;
- items.json: per item sha256, size, media type, how and when it joined, URLs it was seen at;
- hashes.csv: item_sha256, hash_type, hash_value (every kind: md5, sha1, sha256, pdq);
- features.json: per item sha256, its ORB local features (base64, matching/features.py);
- with a key only: clues.enc (notes and clues) and media/<sha256>.enc, AES-256-GCM under a
  key made for this package and handed over separately, never inside it.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import hashlib
import io
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import select
from sqlalchemy.orm import Session

from openhotline import db
from openhotline.audit import service as audit
from openhotline.audit.models import AuditAction
from openhotline.capture import evidence
from openhotline.capture.service import Matcher, match_new_item, upsert_item
from openhotline.exports.service import (
    ExportInvalidError,
    decrypt_file,
    encrypt_file,
    read_package,
    signed_package,
    verify_package,
)
from openhotline.helpline.crypto import FieldCipher
from openhotline.matching import service as matching
from openhotline.matching.features import extract
from openhotline.matching.formats import Row, normalise_hash
from openhotline.matching.models import BankEntry, HashType
from openhotline.matching.policy import BankSource
from openhotline.media.decode import MediaError
from openhotline.media.models import CaseItem, Item
from openhotline.media.store import MediaStore, MediaStoreError
from openhotline.signing.service import SigningKey
from openhotline.victimid import service
from openhotline.victimid.models import Series

FORMAT = "openhotline-vid-series/1"
HASH_COLUMNS = ["item_sha256", "hash_type", "hash_value"]


@dataclass(frozen=True)
class SeriesPackage:
    """A built package; key (base64) is set only when clues or media are inside."""

    export_id: str
    data: bytes
    key: str | None
    files: int


def _json(value: Any) -> bytes:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False).encode("utf-8")


def item_hash_rows(item: Item) -> list[tuple[str, str, str]]:
    """(item sha256, hash type, value) of each hash of one item."""
    pairs = (("sha256", item.sha256), ("md5", item.md5), ("sha1", item.sha1), ("pdq", item.pdq))
    return [(item.sha256, ht, value.lower()) for ht, value in pairs if value]


def series_hashes(session: Session, series: Series) -> list[tuple[str, str, str]]:
    """(item sha256, hash type, value) of every hash of a series: items, then list entries."""
    out: list[tuple[str, str, str]] = []
    for _si, item in service.series_items(session, series.id):
        out.extend(item_hash_rows(item))
    if series.known_bank_id is not None:
        entries = session.scalars(
            select(BankEntry)
            .where(
                BankEntry.bank_id == series.known_bank_id,
                BankEntry.source == f"series:{series.reference}",
                BankEntry.removed_at.is_(None),
            )
            .order_by(BankEntry.id)
        )
        seen = {(t, v) for _s, t, v in out}
        for e in entries:
            if (e.hash_type, e.hash_value) not in seen:
                sha = e.hash_value if e.hash_type == "sha256" else ""
                out.append((sha, e.hash_type, e.hash_value))
    return out


def series_record(series: Series, items: int) -> dict[str, Any]:
    """The fields of series.json."""
    return {
        "reference": series.reference,
        "kind": series.kind.value,
        "title": series.title,
        "victim_status": series.victim_status.value,
        "police_reference": series.police_reference,
        "new_material_since": (
            series.new_material_since.isoformat() if series.new_material_since else None
        ),
        "age_band": series.age_band,
        "sex": series.sex,
        "origin": series.origin,
        "items": items,
    }


def export_series(
    session: Session,
    series: Series,
    key: SigningKey,
    *,
    actor: str,
    hotline: str,
    store: MediaStore | None = None,
    cipher: FieldCipher | None = None,
    include_media: bool = False,
    include_clues: bool = False,
    reason: str = "",
    new_item_ids: tuple[int, ...] = (),
) -> SeriesPackage:
    """Build and sign a series package; audited.

    new_item_ids: new material matched to the series but not (yet) put in it by a person;
    it travels with the members, marked "new material, not confirmed".
    """
    members = service.series_items(session, series.id)
    member_ids = {item.id for _si, item in members}
    fresh = [
        item
        for item in session.scalars(select(Item).where(Item.id.in_(new_item_ids)))
        if item.id not in member_ids
    ]
    export_id = str(uuid.uuid4())
    now = db.now(session)
    seen_at: dict[int, list[str]] = {}
    if members or fresh:
        for item_id, url in session.execute(
            select(CaseItem.item_id, CaseItem.media_url).where(
                CaseItem.item_id.in_([*member_ids, *(i.id for i in fresh)])
            )
        ).all():
            if url:
                seen_at.setdefault(int(item_id), []).append(url)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(HASH_COLUMNS)
    writer.writerows(series_hashes(session, series))
    for item in fresh:
        writer.writerows(item_hash_rows(item))
    files: dict[str, bytes] = {
        "series.json": _json(series_record(series, len(members))),
        "items.json": _json(
            [
                {
                    "sha256": item.sha256,
                    "size": item.size,
                    "media_type": item.media_type,
                    "pdq_quality": item.pdq_quality,
                    "how": si.how,
                    "added_at": si.added_at.isoformat(),
                    "seen_at": sorted(seen_at.get(item.id, [])),
                }
                for si, item in members
            ]
            + [
                {
                    "sha256": item.sha256,
                    "size": item.size,
                    "media_type": item.media_type,
                    "pdq_quality": item.pdq_quality,
                    "how": "new material, not confirmed",
                    "added_at": None,
                    "seen_at": sorted(seen_at.get(item.id, [])),
                }
                for item in fresh
            ]
        ),
        "hashes.csv": buf.getvalue().encode("utf-8"),
    }
    features: dict[str, str] = {}
    plain: dict[str, bytes] = {}
    if store is not None:
        for _si, item in members:
            if not item.storage_key:
                continue
            try:
                body = store.get(item.storage_key)
            except MediaStoreError:
                continue
            if hashlib.sha256(body).hexdigest() != item.sha256:
                raise ExportInvalidError(f"stored media of item {item.sha256} fails its hash")
            plain[item.sha256] = body
            if item.media_type.startswith("image/"):
                with contextlib.suppress(MediaError, ValueError):
                    features[item.sha256] = base64.b64encode(extract(body).to_bytes()).decode()
    files["features.json"] = _json(features)
    package_key: bytes | None = None
    media: list[dict[str, str]] = []
    if include_media or include_clues:
        package_key = AESGCM.generate_key(bit_length=256)
        aead = AESGCM(package_key)
        if include_clues:
            if cipher is None:
                raise ExportInvalidError("clues requested but no cipher is configured")
            notes = service.read_notes(session, series, cipher, actor=actor)
            secret = _json({"notes": notes.get("notes", ""), "clues": notes.get("clues", "")})
            files["clues.enc"] = encrypt_file(aead, secret, f"series:{series.reference}")
        if include_media:
            if store is None:
                raise ExportInvalidError("media requested but no media store is configured")
            for sha, body in sorted(plain.items()):
                path = f"media/{sha}.enc"
                files[path] = encrypt_file(aead, body, sha)
                media.append({"path": path, "item_sha256": sha, "cipher": "AES-256-GCM"})
    manifest_bytes, data = signed_package(
        files,
        {
            "format": FORMAT, "export_id": export_id, "series": series.reference,
            "created_at": now.isoformat(), "created_by": actor, "hotline": hotline,
            "media": media, "clues": "clues.enc" in files,
            "layout": "encrypted files: 12-byte nonce | AES-256-GCM ciphertext+tag; AAD = "
            "item sha256 (media) or series:<reference> (clues)",
        },
        key,
    )  # fmt: skip
    audit.record(
        session,
        actor,
        AuditAction.VICTIMID_EXPORT,
        f"series:{series.id}",
        {
            "export_id": export_id, "files": len(files), "media": len(media),
            "clues": "clues.enc" in files, "reason": reason[:200],
            "manifest_sha256": hashlib.sha256(manifest_bytes).hexdigest(),
        },
    )  # fmt: skip
    return SeriesPackage(
        export_id,
        data,
        base64.b64encode(package_key).decode() if package_key else None,
        len(files),
    )


@dataclass(frozen=True)
class ImportResult:
    """What importing a package did."""

    series_id: int
    reference: str
    created: bool
    hashes_added: int
    clues: bool
    media_items: int = 0


def _decode_key(key_b64: str) -> AESGCM:
    try:
        raw = base64.b64decode(key_b64, validate=True)
    except ValueError:
        raise ExportInvalidError("the package key is not base64") from None
    if len(raw) != 32:
        raise ExportInvalidError("the package key must be 32 bytes")
    return AESGCM(raw)


def import_series(
    session: Session,
    data: bytes,
    public_key: str,
    *,
    actor: str,
    sender: str,
    cipher: FieldCipher | None = None,
    package_key: str = "",
    store: MediaStore | None = None,
    matcher: Matcher | None = None,
    max_media_bytes: int = 100 * 1024 * 1024,
) -> ImportResult:
    """Verify a package from another hotline and make (or refresh) its series here.

    The hashes go into the bank "vid:<sender>" (sourced "series:<ref>"), so new material of
    the series is matched here; clues are stored (encrypted again here) when the key is given.
    With the key and a media store, the media become items here (checked like an upload,
    stored encrypted, matched) and members of the series.
    """
    manifest = verify_package(data, public_key)
    if manifest.get("format") != FORMAT:
        raise ExportInvalidError(f"not a series package (format {manifest.get('format')!r})")
    files = read_package(data)
    try:
        record: dict[str, Any] = json.loads(files["series.json"])
        rows = list(csv.DictReader(io.StringIO(files["hashes.csv"].decode("utf-8"))))
    except (KeyError, ValueError) as exc:
        raise ExportInvalidError(f"the package's series.json or hashes.csv is bad: {exc}") from None
    reference = service.check_reference(str(record.get("reference", "")))
    origin = f"hotline:{sender}"
    bank_name = f"vid:{sender}"[:100]
    try:
        bank = matching.get_bank(session, bank_name)
    except matching.BankNotFoundError:
        bank = matching.create_bank(
            session, bank_name, f"Series packages from {sender}", source=BankSource.PARTNER
        )
    series = service.series_by_reference(session, reference)
    created = series is None
    if series is None:
        series = service.create_series(
            session, actor=actor, reference=reference,
            kind=service.parse_kind(str(record.get("kind", "victim"))),
            victim_status=service.parse_status(str(record.get("victim_status", "unknown"))),
            origin=origin, known_bank_id=bank.id,
        )  # fmt: skip
    elif series.origin != origin:
        raise service.VictimIdConflictError(
            f"series {reference} exists here already (origin {series.origin})"
        )
    since = record.get("new_material_since")
    service.update_fields(
        session,
        series,
        service.SeriesFields(
            title=str(record.get("title", "")),
            victim_status=service.parse_status(str(record.get("victim_status", "unknown"))),
            police_reference=str(record.get("police_reference", "")),
            new_material_since=datetime.fromisoformat(str(since)) if since else None,
            age_band=str(record.get("age_band", "")),
            sex=str(record.get("sex", "")),
        ),
        actor=actor,
        age_bands=[str(record.get("age_band", ""))],
    )
    entries: list[Row] = []
    for n, row in enumerate(rows, start=2):
        try:
            ht = HashType(str(row.get("hash_type", "")).strip().lower())
            value = normalise_hash(ht, str(row.get("hash_value", "")))
        except ValueError as exc:
            raise ExportInvalidError(f"hashes.csv line {n}: {exc}") from None
        entries.append(Row(n, ht, value, f"series:{reference}", "", actor))
    added = matching.import_rows(session, bank, entries, added_by=actor).added
    clues = False
    if "clues.enc" in files and package_key and cipher is not None:
        secret = json.loads(
            decrypt_file(_decode_key(package_key), files["clues.enc"], f"series:{reference}")
        )
        service.set_notes(
            session, series, cipher, actor=actor,
            notes=str(secret.get("notes", "")), clues=str(secret.get("clues", "")),
        )  # fmt: skip
        clues = True
    media_items = 0
    if package_key and store is not None:
        for sha, body in sorted(media_of_package(data, package_key).items()):
            hashed = evidence.prepare(body, f"{reference}/{sha}", max_bytes=max_media_bytes)
            item, _created = upsert_item(session, hashed, store, source=origin)
            match_new_item(session, matcher, item, hashed)
            media_items += int(service.add_item(session, series, item.id, actor=actor,
                                                how=f"import:{sender}"))  # fmt: skip
    audit.record(
        session,
        actor,
        AuditAction.VICTIMID_IMPORT,
        f"series:{series.id}",
        {"export_id": manifest.get("export_id"), "from": sender, "hashes": added,
         "media": media_items},
    )  # fmt: skip
    return ImportResult(series.id, reference, created, added, clues, media_items)


def media_of_package(data: bytes, package_key: str) -> dict[str, bytes]:
    """Decrypt a package's media files (sha256 -> bytes), checking each file's hash."""
    files = read_package(data)
    aead = _decode_key(package_key)
    out: dict[str, bytes] = {}
    for name, blob in files.items():
        if name.startswith("media/") and name.endswith(".enc"):
            sha = name[len("media/") : -len(".enc")]
            body = decrypt_file(aead, blob, sha)
            if hashlib.sha256(body).hexdigest() != sha:
                raise ExportInvalidError(f"{name} does not match its hash")
            out[sha] = body
    return out
