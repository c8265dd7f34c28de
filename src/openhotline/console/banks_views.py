"""HTML routes: hash banks with their policy, source, size and last sync; admins set policy."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from openhotline.accounts.deps import Principal, require
from openhotline.accounts.permissions import Permission
from openhotline.audit import service as audit
from openhotline.audit.models import AuditAction
from openhotline.console.pages import render
from openhotline.errors import InvalidError
from openhotline.matching import service
from openhotline.matching.models import HashBank
from openhotline.matching.policy import BankPolicy, parse_policy
from openhotline.matching.video import check_shares, set_vpdq_shares, video_entry_counts
from openhotline.media.video import HOW_TO_ENABLE, video_available
from openhotline.web.deps import DbDep
from openhotline.web.params import DbId

router = APIRouter(prefix="/console", include_in_schema=False)

Viewer = Annotated[Principal, Depends(require(Permission.BANKS_VIEW))]
Manager = Annotated[Principal, Depends(require(Permission.BANKS_MANAGE))]


def _page(
    request: Request, db: DbDep, principal: Principal, status: int = 200, error: str = ""
) -> Response:
    with db() as session:
        videos = video_entry_counts(session)
        rows = [
            {
                "id": bank.id, "name": bank.name, "policy": bank.policy.value,
                "source": bank.source.value, "size": size, "enabled": bank.enabled,
                "last_synced_at": bank.last_synced_at, "mapped": len(service.mapping_of(bank)),
                "videos": videos.get(bank.id, 0), "vpdq_frame_share": bank.vpdq_frame_share,
                "vpdq_target_share": bank.vpdq_target_share,
            }
            for bank, size in service.list_banks(session)
        ]  # fmt: skip
    return render(
        request,
        "console/banks.html",
        principal,
        status,
        banks=rows,
        policies=[p.value for p in BankPolicy],
        can_manage=principal.can(Permission.BANKS_MANAGE),
        error=error,
        video_on=video_available(),
        video_help=HOW_TO_ENABLE,
    )


@router.get("/banks", response_class=HTMLResponse)
def banks_page(request: Request, db: DbDep, principal: Viewer) -> Response:
    """Every hash bank: policy, source, size, last sync, classification mapping size."""
    return _page(request, db, principal)


@router.post("/banks/{bank_id}/policy", response_class=HTMLResponse)
def change_policy(
    request: Request,
    bank_id: DbId,
    db: DbDep,
    principal: Manager,
    policy: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    """Set a bank's policy (audited as bank.policy); auto_assess marks it trusted."""
    try:
        chosen = parse_policy(policy)
    except InvalidError as exc:
        return _page(request, db, principal, 400, error=exc.message)
    with db.begin() as session:
        bank = session.get(HashBank, bank_id)
        if bank is None:
            return _page(request, db, principal, 404, error="No such bank.")
        service.set_policy(session, bank, chosen, actor=principal.actor)
    return RedirectResponse("/console/banks?msg=bank_updated", status_code=303)


@router.post("/banks/{bank_id}/vpdq", response_class=HTMLResponse)
def change_vpdq_shares(
    request: Request,
    bank_id: DbId,
    db: DbDep,
    principal: Manager,
    frame_share: Annotated[str, Form(max_length=20)] = "",
    target_share: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """Set the shares of frames a vPDQ match needs in this bank (percent in the form)."""
    try:
        shares = [float(v) / 100 if v.strip() else None for v in (frame_share, target_share)]
    except ValueError:
        return _page(request, db, principal, 400, error="Shares are percentages from 0 to 100.")
    try:
        check_shares(shares[0], shares[1])
    except service.BankInvalidError as exc:
        return _page(request, db, principal, 400, error=exc.message)
    with db.begin() as session:
        bank = session.get(HashBank, bank_id)
        if bank is None:
            return _page(request, db, principal, 404, error="No such bank.")
        set_vpdq_shares(session, bank, shares[0], shares[1])
        audit.record(
            session, principal.actor, AuditAction.BANK_POLICY, f"bank:{bank.name}",
            {"vpdq_frame_share": bank.vpdq_frame_share,
             "vpdq_target_share": bank.vpdq_target_share},
        )  # fmt: skip
    return RedirectResponse("/console/banks?msg=bank_updated", status_code=303)
