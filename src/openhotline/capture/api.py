"""JSON routes of capture: partners upload evidence files to a case (scope evidence.upload)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from openhotline.accounts.deps import Principal, require
from openhotline.accounts.permissions import Permission
from openhotline.capture import evidence, recapture
from openhotline.capture.render import unavailable_reason
from openhotline.capture.tasks import matcher
from openhotline.errors import InvalidError, RejectedError
from openhotline.partners.deps import require_scope
from openhotline.partners.models import Scope
from openhotline.partners.service import PartnerIdentity
from openhotline.web.deps import services_of
from openhotline.web.errors import ApiError
from openhotline.web.params import DbId

router = APIRouter(prefix="/api/v1/cases", tags=["capture"])

EvidencePartner = Annotated[PartnerIdentity, Depends(require_scope(Scope.UPLOAD_EVIDENCE))]
UPLOAD_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}},
                    "required": ["file"],
                }
            }
        },
    }
}


class EvidenceOut(BaseModel):
    """The item an upload became."""

    case_id: int
    item_id: int
    sha256: str
    media_type: str
    created: bool
    known: bool


async def read_evidence(request: Request) -> tuple[bytes, str]:
    """The uploaded file's bytes and name from the multipart field `file`."""
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise ApiError(415, "send the file as multipart/form-data in a field named 'file'")
    try:
        form = await request.form(max_files=1, max_fields=5)
    except Exception as exc:  # malformed multipart
        raise RejectedError("malformed multipart body") from exc
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise InvalidError("send the file in a multipart field named 'file'")
    return await upload.read(), upload.filename or ""


def upload_evidence(
    request: Request, case_id: int, data: bytes, name: str, *, actor: str, source: str
) -> EvidenceOut:
    """Check, hash, store and match one uploaded file (runs in a worker thread)."""
    services = services_of(request)
    try:
        hashed = evidence.prepare(data, name, max_bytes=services.settings.crawler_max_media_bytes)
    except evidence.EvidenceTooLargeError as exc:
        raise ApiError(413, str(exc)) from exc
    with services.sessionmaker.begin() as session:
        result = evidence.store(
            session,
            case_id,
            hashed,
            actor=actor,
            source=source,
            media_store=services.media_store,
            matcher=matcher(services),
        )
    return EvidenceOut(case_id=case_id, **asdict(result))


@router.post(
    "/{case_id}/evidence",
    status_code=201,
    openapi_extra=UPLOAD_DOC,
    summary="Upload an evidence file to a case (partners)",
)
async def partner_evidence(
    request: Request, case_id: DbId, partner: EvidencePartner
) -> EvidenceOut:
    """Store the file as an item of the case: hashed, matched, encrypted, queued; audited."""
    data, name = await read_evidence(request)
    return await run_in_threadpool(
        upload_evidence, request, case_id, data, name, actor=partner.actor, source=partner.source
    )


class RecaptureOut(BaseModel):
    """A rendered re-capture was queued."""

    case_id: int
    queued: bool


def queue_render(request: Request, case_id: int, actor: str) -> None:
    """Queue a rendered capture of the case (UnavailableError without Chromium)."""
    services = services_of(request)
    reason = unavailable_reason(services.settings.render_chromium_path)
    with services.sessionmaker.begin() as session:
        recapture.request_render(session, case_id, actor, unavailable=reason)


@router.post(
    "/{case_id}/recapture",
    status_code=202,
    summary="Re-capture a case rendered in headless Chromium (staff)",
)
def recapture_case(
    request: Request,
    case_id: DbId,
    principal: Annotated[Principal, Depends(require(Permission.ITEM_ASSESS))],
) -> RecaptureOut:
    """Queue a rendered capture: screenshot, rendered HTML, WARC and the media it loads."""
    queue_render(request, case_id, principal.actor)
    return RecaptureOut(case_id=case_id, queued=True)
