"""JSON routes of reporting: public intake, status look-up, partner batches."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Response
from pydantic import BaseModel, Field

from openhotline.accounts.deps import Principal, require
from openhotline.accounts.permissions import Permission
from openhotline.errors import InvalidError, NotFoundError
from openhotline.partners.deps import PartnerDep
from openhotline.reporting import idempotency, service
from openhotline.reporting.feedback import erase_reporter_contact
from openhotline.reporting.schemas import (
    BatchIn,
    BatchOut,
    ErrorOut,
    ReceiptOut,
    ReportIn,
    StatusOut,
)
from openhotline.web.deps import (
    DbDep,
    IntakeDep,
    JsonBody,
    PublicIntakeDep,
    json_answer,
    json_body_doc,
)
from openhotline.web.errors import validate_as
from openhotline.web.ratelimit import public_rate_limit

router = APIRouter(prefix="/api/v1", tags=["reports"])

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut} for code in (400, 401, 404, 413, 415, 422, 429)
}


# A retry with the same key and body gets the first answer back, marked with this header.
REPLAYED = "Idempotent-Replayed"
IdempotencyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=255,
        description="Optional: a retry with the same key and body files nothing new and "
        "returns the first answer; the same key with another body is refused (409).",
    ),
]


def _limits(settings: Any) -> service.IntakeLimits:
    return service.IntakeLimits(
        max_urls=settings.max_urls_per_report, max_url_bytes=settings.max_url_bytes
    )


@router.post(
    "/reports",
    status_code=201,
    response_model=ReceiptOut,
    responses=ERRORS,
    openapi_extra=json_body_doc(ReportIn),
    summary="File a report (anonymous)",
)
async def create_report(
    intake: PublicIntakeDep, idempotency_key: IdempotencyHeader = None
) -> Response:
    """Accept a report; the 201 is only sent once it is committed (group commit)."""
    body, settings = intake.body, intake.settings
    data = validate_as(ReportIn, body, "invalid report")
    if data.external_id is not None:
        raise InvalidError("invalid report", ["external_id: only for partner batches"])
    prepared = service.prepare_report(data, _limits(settings))
    key = idempotency.idempotency_key(
        idempotency_key, "public", body, settings.idempotency_key_hours
    )
    if key is None:
        receipt = await intake.committer.run_async(service.store_reports, (prepared, "public"))
        return json_answer(service.receipt_answer(receipt), 201)
    answer, replayed = await intake.committer.run_async(
        service.store_reports_once, (prepared, "public", key)
    )
    return json_answer(answer, 201, {REPLAYED: "true"} if replayed else None)


@router.get(
    "/reports/{receipt}",
    response_model=StatusOut,
    responses=ERRORS,
    dependencies=[Depends(public_rate_limit)],
    summary="Coarse status of a report",
)
def report_status(receipt: str, db: DbDep) -> StatusOut:
    """Return only the coarse status for a receipt code."""
    with db() as session:
        status = service.public_status(session, receipt)
    if status is None:
        raise NotFoundError("no report with this receipt code")
    return StatusOut(status=status.value)


@router.post(
    "/reports/batch",
    response_model=BatchOut,
    responses=ERRORS,
    openapi_extra=json_body_doc(BatchIn),
    summary="Submit up to 1,000 reports (partners)",
)
async def create_batch(
    intake: IntakeDep,
    partner: PartnerDep,
    idempotency_key: IdempotencyHeader = None,
) -> Response:
    """Accept or reject each report of a batch on its own."""
    body, settings = intake.body, intake.settings
    batch = validate_as(BatchIn, body, "invalid batch")
    if len(batch.reports) > settings.max_batch_reports:
        raise InvalidError(
            f"too many reports: {len(batch.reports)} (at most {settings.max_batch_reports})"
        )
    key = idempotency.idempotency_key(
        idempotency_key, partner.source, body, settings.idempotency_key_hours
    )
    # The writer thread validates the items before it takes the write lock (see db.py).
    answer, replayed = await intake.committer.run_prepared_async(
        service.prepare_batch_job,
        (batch.reports, _limits(settings), partner.source, key),
        service.store_batches_once,
    )
    return json_answer(answer, 200, {REPLAYED: "true"} if replayed else None)


class EraseContactIn(BaseModel):
    """The address a reporter asked to have erased."""

    email: str = Field(min_length=3, max_length=320)


class EraseContactOut(BaseModel):
    """How many reports held the address (now erased)."""

    erased: int


@router.post(
    "/reporters/erase-contact",
    response_model=EraseContactOut,
    responses=ERRORS,
    summary="Erase a reporter's e-mail address from every report (supervisors; audited)",
)
def erase_contact(
    principal: Annotated[Principal, Depends(require(Permission.REPORTERS_ERASE))],
    db: DbDep,
    body: JsonBody,
) -> EraseContactOut:
    """Find reports by the address itself and erase it."""
    data = validate_as(EraseContactIn, body, "invalid request")
    with db.begin() as session:
        count = erase_reporter_contact(session, data.email, actor=principal.actor)
    return EraseContactOut(erased=count)
