"""Evidence upload: analysts and partners add files to a case (no web imports, no commit).

An uploaded file takes the captured media's path: the same decoding limits, the encrypted
store, the same hashes and the same bank matching, then the triage queue.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from sqlalchemy.orm import Session

from openhotline import db
from openhotline.audit import service as audit
from openhotline.audit.models import AuditAction
from openhotline.capture.crawler import CapturedMedia
from openhotline.capture.service import (
    HashedMedia,
    Matcher,
    hash_media,
    match_new_item,
    upsert_item,
)
from openhotline.capture.sniff import is_media, sniff
from openhotline.cases.lifecycle import AWAITING_CAPTURE, REOPENABLE
from openhotline.cases.models import Case, CaseEventKind
from openhotline.cases.service import record_event
from openhotline.db import insert_ignore
from openhotline.errors import ConflictError, InvalidError, NotFoundError
from openhotline.jobs import service as jobs
from openhotline.media.decode import Limits, MediaError, decode
from openhotline.media.models import CaseItem, ItemStatus
from openhotline.media.store import MediaStore

MAX_NAME = 200


class EvidenceTooLargeError(InvalidError):
    """The file is over the media size limit (the API answers 413)."""


@dataclass(frozen=True)
class EvidenceResult:
    """What an upload stored: the item, whether it was new, and whether a bank knew it."""

    item_id: int
    sha256: str
    media_type: str
    created: bool
    known: bool


def clean_name(name: str | None) -> str:
    """The client's file name as plain text: no path, no control characters, bounded."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    text = "".join(c for c in base if unicodedata.category(c)[0] != "C").strip()
    return text[:MAX_NAME] or "unnamed"


def prepare(data: bytes, name: str | None, *, max_bytes: int) -> HashedMedia:
    """Check and hash an uploaded file (CPU work, no DB); InvalidError says what is wrong."""
    if not data:
        raise InvalidError("the uploaded file is empty")
    if len(data) > max_bytes:
        raise EvidenceTooLargeError(f"the file is {len(data)} bytes; the limit is {max_bytes}")
    media_type = sniff(data)
    if not is_media(media_type):
        raise InvalidError(
            "not an image or video this system can read (JPEG, PNG, GIF, WebP, BMP, HEIC, "
            "AVIF, MP4, WebM, AVI)"
        )
    if media_type.startswith("image/"):
        try:  # the decoding limits every captured image gets (size, pixels, bombs)
            decode(data, Limits(max_bytes=max_bytes))
        except MediaError as exc:
            raise InvalidError(f"cannot read this image: {exc.message}", [exc.code]) from exc
    return hash_media(CapturedMedia(f"upload: {clean_name(name)}", media_type, data))


def store(
    session: Session,
    case_id: int,
    hashed: HashedMedia,
    *,
    actor: str,
    source: str,
    media_store: MediaStore,
    matcher: Matcher | None,
) -> EvidenceResult:
    """Store an uploaded file as an item of the case, match it, record and audit it."""
    case = session.get(Case, case_id)
    if case is None:
        raise NotFoundError(f"no case {case_id}")
    if REOPENABLE(case):
        raise ConflictError(f"case {case_id} is {case.status}: evidence is not added to it")
    if AWAITING_CAPTURE(case):
        # Routing the upload moves the case out of NEW, where the tick would queue its crawl:
        # queue it now (the same key as the tick's, so never twice).
        jobs.enqueue(session, "capture.case", {"case_id": case.id}, dedupe_key=f"capture:{case.id}")
    item, created = upsert_item(session, hashed, media_store, source=source[:100])
    insert_ignore(
        session,
        CaseItem,
        [
            {
                "case_id": case.id,
                "item_id": item.id,
                "media_url": hashed.media.url,
                "captured_at": db.now(session),
            }
        ],
    )
    session.flush()
    # Linked first, so an automatic assessment moves this case on like any other.
    bank = match_new_item(session, matcher, item, hashed)
    detail = f"item {item.id} ({hashed.media.media_type}, {len(hashed.media.body)} bytes)"
    detail += f"; known to bank {bank}" if bank else ("; new" if created else "; already known")
    record_event(session, case.id, CaseEventKind.EVIDENCE_UPLOADED, actor=actor, detail=detail)
    audit.record(
        session,
        actor,
        AuditAction.EVIDENCE_UPLOAD,
        f"case:{case.id}",
        {
            "item": item.id,
            "sha256": hashed.sha256,
            "media_type": hashed.media.media_type,
            "size": len(hashed.media.body),
            "name": hashed.media.url,
            "source": source,
        },
    )
    return EvidenceResult(
        item_id=item.id,
        sha256=hashed.sha256,
        media_type=hashed.media.media_type,
        created=created,
        known=item.status == ItemStatus.AUTO_ASSESSED,
    )
