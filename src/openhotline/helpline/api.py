"""JSON routes of the helpline (thin): record contacts, trend tables, CSV and annual export.

Console sessions authenticate these routes; writes carry the session's CSRF token in the
X-CSRF-Token header.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response
from pydantic import ValidationError

from openhotline.accounts.deps import Principal, require
from openhotline.accounts.permissions import Permission
from openhotline.audit import service as audit
from openhotline.audit.models import AuditAction
from openhotline.db import clock_of
from openhotline.errors import InvalidError
from openhotline.helpline import service, trends
from openhotline.helpline.schemas import ContactOut, TrendTableOut
from openhotline.helpline.webdeps import CipherDep, TaxonomyDep
from openhotline.web.deps import DbDep, JsonBody, SettingsDep
from openhotline.web.errors import validation_details

router = APIRouter(prefix="/api/v1/helpline", tags=["helpline"])

Counsellor = Annotated[Principal, Depends(require(Permission.HELPLINE_CONTACT_RECORD))]
TrendViewer = Annotated[Principal, Depends(require(Permission.HELPLINE_TRENDS_VIEW))]
Year = Annotated[int, Query(ge=2000, le=2100, description="Calendar year")]


def _record(
    principal: Principal, body: dict[str, Any], mode: str, db: Any, cipher: Any, taxonomy: Any
) -> ContactOut:
    try:
        data = service.validate_contact(body, mode)
    except ValidationError as exc:
        raise InvalidError("invalid contact", validation_details(exc)) from exc
    with db.begin() as session:
        contact = service.record_contact(
            session,
            data,
            mode=mode,
            counsellor=principal.username,
            cipher=cipher,
            taxonomy=taxonomy,
        )
        return ContactOut(
            id=contact.id,
            mode=mode,
            period=contact.period,
            escalated=contact.immediate_risk,
        )


@router.post("/contacts/child", response_model=ContactOut, status_code=201)
def record_child_contact(
    principal: Counsellor, body: JsonBody, db: DbDep, cipher: CipherDep, taxonomy: TaxonomyDep
) -> ContactOut:
    """Record a child helpline contact (identifying details optional, encrypted)."""
    return _record(principal, body, "child", db, cipher, taxonomy)


@router.post("/contacts/prevention", response_model=ContactOut, status_code=201)
def record_prevention_contact(
    principal: Counsellor, body: JsonBody, db: DbDep, cipher: CipherDep, taxonomy: TaxonomyDep
) -> ContactOut:
    """Record a prevention helpline contact (no identifying fields exist; extras refused)."""
    return _record(principal, body, "prevention", db, cipher, taxonomy)


def _table(db: Any, settings: Any, taxonomy: Any, year: int, by: str) -> trends.PublishedTable:
    if by not in trends.DIMENSIONS:
        raise InvalidError(f"by must be one of {', '.join(trends.DIMENSIONS)}")
    with db.begin() as session:
        return trends.build_year(session, year, taxonomy, settings.helpline_suppression_k)[by]


@router.get("/trends", response_model=TrendTableOut)
def trend_table(
    principal: TrendViewer,
    db: DbDep,
    settings: SettingsDep,
    taxonomy: TaxonomyDep,
    year: Year,
    by: str = "contact_type",
) -> TrendTableOut:
    """Contacts per ended month of a year by one dimension; null = suppressed."""
    return TrendTableOut(**_table(db, settings, taxonomy, year, by).as_dict())


@router.get("/trends.csv", response_class=Response)
def trend_csv(
    principal: TrendViewer,
    db: DbDep,
    settings: SettingsDep,
    taxonomy: TaxonomyDep,
    year: Year,
    by: str = "contact_type",
) -> Response:
    """The same table as CSV ('*' = suppressed); the export is audited."""
    table = _table(db, settings, taxonomy, year, by)
    with db.begin() as session:
        audit.record(
            session,
            principal.actor,
            AuditAction.HELPLINE_TRENDS_EXPORTED,
            None,
            {"year": year, "by": by},
        )
    return Response(
        table.as_csv(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="helpline-{year}-{by}.csv"'},
    )


@router.get("/annual/{year}")
def annual(
    principal: TrendViewer,
    db: DbDep,
    settings: SettingsDep,
    taxonomy: TaxonomyDep,
    year: Annotated[int, Path(ge=2000, le=2100)],
) -> dict[str, Any]:
    """The year's counts in a helpline network's annual shape (see helpline/trends.py)."""
    with db.begin() as session:
        if year > clock_of(session).now().year:
            raise InvalidError("that year has not started")
        out = trends.annual_export(session, year, taxonomy, settings.helpline_suppression_k)
        audit.record(
            session, principal.actor, AuditAction.HELPLINE_ANNUAL_EXPORTED, None, {"year": year}
        )
    return out
