"""JSON routes of media: hash an uploaded image (partners)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from openhotline.errors import InvalidError, RejectedError
from openhotline.media import service
from openhotline.media.decode import MediaError
from openhotline.media.schemas import ErrorOut, HashesOut
from openhotline.partners.deps import MatchPartnerDep
from openhotline.web.errors import ApiError

router = APIRouter(prefix="/api/v1", tags=["media"])

MEDIA_BODY_LIMIT = 64 * 1024 * 1024
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut} for code in (400, 401, 413, 415, 422)
}
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
            },
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


async def read_upload(request: Request) -> bytes:
    """The uploaded file's bytes: multipart field `file`, or the raw body."""
    ctype = request.headers.get("content-type", "").lower()
    if ctype.startswith("multipart/form-data"):
        try:
            form = await request.form(max_files=1, max_fields=5)
        except Exception as exc:  # malformed multipart
            raise RejectedError("malformed multipart body") from exc
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise InvalidError("send the image in a multipart field named 'file'")
        data = await upload.read()
    elif ctype.startswith(("image/", "application/octet-stream")):
        data = await request.body()
    else:
        raise ApiError(415, "send the image as multipart/form-data (field 'file') or image/*")
    if not data:
        raise InvalidError("the uploaded file is empty")
    return data


def media_error(exc: MediaError) -> ApiError:
    """The 4xx answer for an image that cannot be decoded."""
    status = 413 if exc.code == "too_large" else 422
    return ApiError(status, f"cannot hash this file: {exc.message}", [exc.code])


@router.post(
    "/hash",
    response_model=HashesOut,
    responses=ERRORS,
    openapi_extra=UPLOAD_DOC,
    summary="Hash an image (MD5, SHA-1, SHA-256, PDQ)",
)
async def hash_image(request: Request, partner: MatchPartnerDep) -> HashesOut:
    """Return the hashes of an uploaded image; nothing is stored."""
    data = await read_upload(request)
    try:
        hashes = await run_in_threadpool(service.hash_file, data)
    except MediaError as exc:
        raise media_error(exc) from exc
    return HashesOut.of(hashes)
