"""HTML routes for media: the preview (blurred unless revealed), reveal and hide."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from openhotline.accounts.deps import Principal, require
from openhotline.accounts.permissions import Permission
from openhotline.assessment import exposure, queue, service
from openhotline.console.pages import NO_STORE, load_policy, render
from openhotline.matching.api import get_engine
from openhotline.media.deps import MediaStoreDep
from openhotline.media.models import Item, ItemStatus
from openhotline.media.preview import (
    SHEET_GRID,
    PreviewError,
    placeholder,
    render_contact_sheet,
    render_preview,
)
from openhotline.media.store import MediaStoreError
from openhotline.web.deps import DbDep, SettingsDep
from openhotline.web.params import DbId

router = APIRouter(prefix="/console", include_in_schema=False)

Assessor = Annotated[Principal, Depends(require(Permission.ITEM_ASSESS))]
Revealer = Annotated[Principal, Depends(require(Permission.ITEM_REVEAL))]


def _jpeg(data: bytes, status: int = 200) -> Response:
    return Response(data, status_code=status, media_type="image/jpeg", headers=NO_STORE)


@router.get("/items/{item_id}/preview")
def preview(
    request: Request,
    item_id: DbId,
    db: DbDep,
    settings: SettingsDep,
    store: MediaStoreDep,
    principal: Assessor,
) -> Response:
    """The item's preview for the analyst who claimed it; clear only during a reveal."""
    policy = load_policy(db, settings)
    with db.begin() as session:
        item = session.get(Item, item_id)
        if item is None:
            return _jpeg(placeholder("no such item"), 404)
        # Known content is never displayed, even to the claimant.
        known = service.check_known(session, item, get_engine(request))
        if known or item.status == ItemStatus.AUTO_ASSESSED:
            return _jpeg(placeholder("known content: not shown"), 403)
        can_resolve = principal.can(Permission.DISPUTE_RESOLVE)
        if not queue.may_view(session, item_id, principal.user_id, can_resolve=can_resolve):
            return _jpeg(placeholder("claim the item first"), 403)
        live = exposure.open_reveal(session, principal.user_id, item_id)
        clear = (
            live is not None
            and not exposure.budget_of(session, principal.user_id, policy).exhausted
        )
        key = item.storage_key
        video = item.media_type.startswith("video/")
        frame = live.frame if live is not None and clear else None
    if key is None:
        return _jpeg(placeholder("media not kept"), 404)
    try:
        if video:  # a blurred contact sheet; only a revealed frame is ever clear, no audio
            return _jpeg(render_contact_sheet(store.get(key), clear_frame=frame))
        return _jpeg(render_preview(store.get(key), blurred=not clear))
    except (MediaStoreError, PreviewError):
        return _jpeg(placeholder("cannot preview"), 422)


@router.post("/items/{item_id}/reveal", response_class=HTMLResponse)
def reveal(
    request: Request,
    item_id: DbId,
    db: DbDep,
    settings: SettingsDep,
    principal: Revealer,
    frame: Annotated[int | None, Form(ge=1, le=SHEET_GRID * SHEET_GRID)] = None,
) -> Response:
    """Reveal one item, or one frame of a video (audited; each counts toward the budget)."""
    policy = load_policy(db, settings)
    error = ""
    with db.begin() as session:
        try:
            exposure.reveal(
                session,
                item_id,
                principal.user_id,
                principal.actor,
                policy,
                can_resolve=principal.can(Permission.DISPUTE_RESOLVE),
                frame=None if frame is None else frame - 1,
            )
        except service.AssessmentError as exc:
            error = str(exc)  # the refusal itself is audited: commit
    if error:
        return render(
            request,
            "console/error.html",
            principal,
            403,
            error=error,
            back=f"/console/items/{item_id}",
        )
    return RedirectResponse(_back(request, item_id), status_code=303)


def _back(request: Request, item_id: DbId) -> str:
    """Return to the dispute page when the reveal came from there, else the item page."""
    if request.query_params.get("from") == "dispute":
        return f"/console/supervisor/disputes/{item_id}"
    return f"/console/items/{item_id}"


@router.post("/items/{item_id}/hide")
def hide(request: Request, item_id: DbId, db: DbDep, principal: Revealer) -> Response:
    """Blur the preview again (stops the exposure clock)."""
    with db.begin() as session:
        exposure.hide(session, principal.user_id, principal.actor, item_id)
    return RedirectResponse(_back(request, item_id) + "?msg=hidden", status_code=303)
