"""HTML routes: hash banks with their policy, source, size, last sync, per-signal settings and
subscription status; admins set the policy and the signal settings (both audited)."""

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
from openhotline.matching import service, subscriptions
from openhotline.matching.models import BankSubscription, HashBank
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
        with_features = service.feature_counts(session)
        subs = {name: sub for sub, name in subscriptions.subscriptions(session)}
        signals = [
            {
                "id": bank.id, "name": bank.name, "pdq_radius": bank.pdq_radius,
                "features_enabled": bank.features_enabled,
                "features_min_inliers": bank.features_min_inliers,
                "features_radius": bank.features_radius,
                "feature_items": with_features.get(bank.id, 0),
                "subscription": _subscription(subs.get(bank.name)),
            }
            for bank, _size in service.list_banks(session)
        ]  # fmt: skip
    return render(
        request,
        "console/banks.html",
        principal,
        status,
        banks=rows,
        signals=signals,
        policies=[p.value for p in BankPolicy],
        can_manage=principal.can(Permission.BANKS_MANAGE),
        error=error,
        video_on=video_available(),
        video_help=HOW_TO_ENABLE,
    )


def _subscription(sub: BankSubscription | None) -> dict[str, object] | None:
    if sub is None:
        return None
    return {
        "url": sub.list_url, "version": sub.version, "last_success_at": sub.last_success_at,
        "last_attempt_at": sub.last_attempt_at, "last_error": sub.last_error,
    }  # fmt: skip


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


def _number(raw: str, what: str) -> int | None:
    raw = raw.strip()
    if not raw:
        return None
    if not raw.isdigit() or len(raw) > 6:
        raise InvalidError(f"{what} must be a whole number")
    return int(raw)


@router.post("/banks/{bank_id}/settings", response_class=HTMLResponse)
def change_settings(
    request: Request,
    bank_id: DbId,
    db: DbDep,
    principal: Manager,
    features_enabled: Annotated[str, Form(max_length=5)] = "",
    min_inliers: Annotated[str, Form(max_length=20)] = "",
    feature_radius: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """Set a bank's local-feature settings (audited as bank.settings)."""
    try:
        inliers = _number(min_inliers, "the minimum inliers")
        radius = _number(feature_radius, "the descriptor radius")
        with db.begin() as session:
            bank = session.get(HashBank, bank_id)
            if bank is None:
                return _page(request, db, principal, 404, error="No such bank.")
            service.set_feature_settings(
                session, bank, principal.actor, features_enabled == "1", inliers, radius
            )
    except InvalidError as exc:
        return _page(request, db, principal, 400, error=exc.message)
    return RedirectResponse("/console/banks?msg=bank_updated", status_code=303)
