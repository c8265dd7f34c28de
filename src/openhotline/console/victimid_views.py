"""HTML routes of victim identification: series, suggestions, alerts, blurred contact sheets.

Series pages show blurred previews only; opening one item counts against the viewer's
exposure budget (assessment/exposure.py) and is audited. Notes and clues appear only for
the victim-identification role (VICTIMID_CLUES).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from openhotline.accounts.deps import Principal, require
from openhotline.accounts.permissions import Permission
from openhotline.assessment import exposure
from openhotline.assessment.schemes import load_scheme
from openhotline.assessment.service import AssessmentError
from openhotline.capture.api import read_evidence
from openhotline.console.pages import NO_STORE, load_policy, render
from openhotline.errors import DomainError
from openhotline.matching.models import BankEntry, HashBank
from openhotline.media.deps import MediaStoreDep
from openhotline.media.models import Item
from openhotline.media.preview import PreviewError, placeholder, render_preview
from openhotline.media.store import MediaStoreError
from openhotline.victimid import known, package, related, scan, service
from openhotline.victimid.models import (
    Alert,
    SeriesItem,
    SeriesKind,
    SeriesMatch,
    Suggestion,
    VictimStatus,
)
from openhotline.victimid.tasks import police_channel, send_series
from openhotline.web.deps import DbDep, SettingsDep, services_of
from openhotline.web.errors import ApiError, html_status
from openhotline.web.params import DbId

router = APIRouter(prefix="/console/victimid", include_in_schema=False)

Viewer = Annotated[Principal, Depends(require(Permission.VICTIMID_VIEW))]
Manager = Annotated[Principal, Depends(require(Permission.VICTIMID_MANAGE))]
CluesKeeper = Annotated[Principal, Depends(require(Permission.VICTIMID_CLUES))]
Exporter = Annotated[Principal, Depends(require(Permission.VICTIMID_EXPORT))]


def _age_bands(settings: object) -> list[str]:
    scheme = load_scheme(getattr(settings, "classification_scheme", "default"))
    field = next((f for f in scheme.fields if f.name == "age_band"), None)
    return list(field.choices) if field else []


def _back(series_id: int, msg: str = "") -> RedirectResponse:
    suffix = f"?msg={msg}" if msg else ""
    return RedirectResponse(f"/console/victimid/series/{series_id}{suffix}", status_code=303)


def _error(request: Request, principal: Principal, exc: DomainError, back: str) -> Response:
    return render(
        request, "console/error.html", principal, html_status(exc), error=str(exc), back=back
    )


@router.get("/", response_class=HTMLResponse)
def home(request: Request, principal: Viewer, db: DbDep) -> Response:
    """Series and the victim-identification alert queue."""
    with db() as s:
        return render(
            request,
            "victimid/home.html",
            principal,
            rows=service.list_series(s),
            alerts=service.alerts(s),
            kinds=list(SeriesKind),
        )


@router.post("/series")
def create(
    request: Request,
    principal: Manager,
    db: DbDep,
    title: Annotated[str, Form()] = "",
    kind: Annotated[str, Form()] = "victim",
    item_ids: Annotated[str, Form()] = "",
) -> Response:
    """Create a series, optionally with items (ids separated by spaces or commas)."""
    try:
        ids = [int(x) for x in item_ids.replace(",", " ").split()]
    except ValueError:
        return _error(
            request,
            principal,
            service.VictimIdInvalidError("item ids are numbers"),
            "/console/victimid/",
        )
    try:
        with db.begin() as s:
            series = service.create_series(
                s, actor=principal.actor, title=title, kind=service.parse_kind(kind)
            )
            for item_id in ids:
                service.add_item(s, series, item_id, actor=principal.actor)
            series_id = series.id
    except DomainError as exc:
        return _error(request, principal, exc, "/console/victimid/")
    return _back(series_id)


@router.get("/series/{series_id}", response_class=HTMLResponse)
def series_page(
    request: Request, series_id: DbId, principal: Viewer, db: DbDep, settings: SettingsDep
) -> Response:
    """A series: fields, blurred contact sheet, suggestions, matches, notes and clues."""
    cipher = services_of(request).victimid_cipher
    with db.begin() as s:
        try:
            series = service.get_series(s, series_id)
        except DomainError as exc:
            return _error(request, principal, exc, "/console/victimid/")
        notes = (
            service.read_notes(s, series, cipher, actor=principal.actor)
            if principal.can(Permission.VICTIMID_CLUES)
            else None
        )
        matched = (
            s.execute(
                select(SeriesMatch)
                .where(SeriesMatch.series_id == series_id)
                .order_by(SeriesMatch.id)
            )
            .scalars()
            .all()
        )
        open_alerts = (
            s.execute(
                select(Alert)
                .where(Alert.series_id == series_id, Alert.acknowledged_at.is_(None))
                .order_by(Alert.id)
            )
            .scalars()
            .all()
        )
        listed = (
            s.scalar(
                select(func.count()).where(
                    BankEntry.bank_id == series.known_bank_id,
                    BankEntry.source == f"series:{series.reference}",
                    BankEntry.removed_at.is_(None),
                )
            )
            if series.known_bank_id is not None
            else 0
        )
        bank = s.get(HashBank, series.known_bank_id) if series.known_bank_id else None
        return render(
            request,
            "victimid/series.html",
            principal,
            listed=listed,
            bank=bank,
            series=series,
            items=service.series_items(s, series_id),
            suggestions=service.suggestions_of(s, series_id),
            matched=matched,
            alerts=open_alerts,
            notes=notes,
            statuses=list(VictimStatus),
            age_bands=_age_bands(settings),
            sexes=service.SEXES,
            peers=sorted(settings.federation_peers),
            message={
                "added": "Item added to the series.", "removed": "Item removed.",
                "saved": "Saved.", "merged": "Series merged.",
                "suggested": "Suggestions updated.", "accepted": "Suggestion accepted.",
                "rejected": "Suggestion rejected.", "acknowledged": "Alert acknowledged.",
                "hidden": "Preview hidden.", "sent": "Package sent to the partner hotline.",
            }.get(request.query_params.get("msg", ""), ""),
        )  # fmt: skip


@router.post("/series/{series_id}/fields")
def save_fields(
    request: Request,
    series_id: DbId,
    principal: Manager,
    db: DbDep,
    settings: SettingsDep,
    title: Annotated[str, Form()] = "",
    victim_status: Annotated[str, Form()] = "unknown",
    police_reference: Annotated[str, Form()] = "",
    new_material_since: Annotated[str, Form()] = "",
    age_band: Annotated[str, Form()] = "",
    sex: Annotated[str, Form()] = "",
) -> Response:
    """Save the victim-identification fields."""
    back = f"/console/victimid/series/{series_id}"
    try:
        since = (
            datetime.fromisoformat(new_material_since).replace(tzinfo=UTC)
            if new_material_since.strip()
            else None
        )
    except ValueError:
        return _error(
            request, principal, service.VictimIdInvalidError("a date is YYYY-MM-DD"), back
        )
    try:
        with db.begin() as s:
            service.update_fields(
                s, service.get_series(s, series_id),
                service.SeriesFields(
                    title=title, victim_status=service.parse_status(victim_status),
                    police_reference=police_reference, new_material_since=since,
                    age_band=age_band, sex=sex,
                ),
                actor=principal.actor, age_bands=_age_bands(settings),
            )  # fmt: skip
    except DomainError as exc:
        return _error(request, principal, exc, back)
    return _back(series_id, "saved")


@router.post("/series/{series_id}/notes")
def save_notes(
    request: Request,
    series_id: DbId,
    principal: CluesKeeper,
    db: DbDep,
    notes: Annotated[str, Form()] = "",
    clues: Annotated[str, Form()] = "",
) -> Response:
    """Save notes and clues (encrypted at rest)."""
    cipher = services_of(request).victimid_cipher
    try:
        with db.begin() as s:
            service.set_notes(
                s, service.get_series(s, series_id), cipher, actor=principal.actor,
                notes=notes, clues=clues,
            )  # fmt: skip
    except DomainError as exc:
        return _error(request, principal, exc, f"/console/victimid/series/{series_id}")
    return _back(series_id, "saved")


@router.post("/series/{series_id}/items")
def add_item(
    request: Request,
    series_id: DbId,
    principal: Manager,
    db: DbDep,
    item_id: Annotated[int, Form(ge=1, le=2**31 - 1)],
) -> Response:
    """Put an item into the series."""
    try:
        with db.begin() as s:
            series = service.get_series(s, series_id)
            if service.add_item(s, series, item_id, actor=principal.actor):
                scan.alert_on_join(s, series, item_id, police_channel(services_of(request)))
    except DomainError as exc:
        return _error(request, principal, exc, f"/console/victimid/series/{series_id}")
    return _back(series_id, "added")


@router.post("/series/{series_id}/items/{item_id}/remove")
def remove_item(
    request: Request, series_id: DbId, item_id: DbId, principal: Manager, db: DbDep
) -> Response:
    """Take an item out of the series."""
    try:
        with db.begin() as s:
            service.remove_item(s, service.get_series(s, series_id), item_id, actor=principal.actor)
    except DomainError as exc:
        return _error(request, principal, exc, f"/console/victimid/series/{series_id}")
    return _back(series_id, "removed")


@router.post("/series/{series_id}/merge")
def merge(
    request: Request,
    series_id: DbId,
    principal: Manager,
    db: DbDep,
    other: Annotated[str, Form()],
) -> Response:
    """Merge another series (by reference) into this one."""
    back = f"/console/victimid/series/{series_id}"
    try:
        with db.begin() as s:
            source = service.series_by_reference(s, other.strip())
            if source is None:
                raise service.VictimIdNotFoundError(f"no series {other.strip()!r}")
            service.merge_series(s, service.get_series(s, series_id), source, actor=principal.actor)
    except DomainError as exc:
        return _error(request, principal, exc, back)
    return _back(series_id, "merged")


@router.post("/series/{series_id}/suggest")
def suggest(
    request: Request,
    series_id: DbId,
    principal: Manager,
    db: DbDep,
    settings: SettingsDep,
    store: MediaStoreDep,
) -> Response:
    """Look for possibly related items (PDQ neighbours, local features, same page or host)."""
    try:
        with db.begin() as s:
            related.suggest(
                s, service.get_series(s, series_id), store,
                radius=settings.victimid_pdq_radius,
                feature_candidates=settings.victimid_feature_candidates,
            )  # fmt: skip
    except DomainError as exc:
        return _error(request, principal, exc, f"/console/victimid/series/{series_id}")
    return _back(series_id, "suggested")


@router.post("/suggestions/{suggestion_id}/{decision}")
def decide(
    request: Request, suggestion_id: DbId, decision: str, principal: Manager, db: DbDep
) -> Response:
    """Accept (the item joins the series) or reject a suggestion."""
    if decision not in ("accept", "reject"):
        return _error(
            request,
            principal,
            service.VictimIdInvalidError("accept or reject"),
            "/console/victimid/",
        )
    try:
        with db.begin() as s:
            suggestion = service.decide_suggestion(
                s, suggestion_id, decision == "accept", actor=principal.actor
            )
            series_id = suggestion.series_id
            if decision == "accept":
                scan.alert_on_join(
                    s, service.get_series(s, series_id), suggestion.item_id,
                    police_channel(services_of(request)),
                )  # fmt: skip
    except DomainError as exc:
        return _error(request, principal, exc, "/console/victimid/")
    return _back(series_id, "accepted" if decision == "accept" else "rejected")


@router.post("/alerts/{alert_id}/acknowledge")
def acknowledge(request: Request, alert_id: DbId, principal: Viewer, db: DbDep) -> Response:
    """Mark an alert seen."""
    try:
        with db.begin() as s:
            series_id = service.acknowledge_alert(s, alert_id, actor=principal.actor).series_id
    except DomainError as exc:
        return _error(request, principal, exc, "/console/victimid/")
    return _back(series_id, "acknowledged")


def _series_item(session: Session, item_id: int) -> bool:
    """True when the item is in, suggested for or matched to a series (what VID may open)."""
    for model in (SeriesItem, Suggestion, SeriesMatch):
        if session.scalar(select(model.id).where(model.item_id == item_id).limit(1)) is not None:
            return True
    return False


def _jpeg(data: bytes, status: int = 200) -> Response:
    return Response(data, status_code=status, media_type="image/jpeg", headers=NO_STORE)


@router.get("/items/{item_id}/preview")
def preview(
    item_id: DbId,
    principal: Viewer,
    db: DbDep,
    settings: SettingsDep,
    store: MediaStoreDep,
) -> Response:
    """A series item's preview: blurred, clear only while the viewer has it open (budgeted)."""
    policy = load_policy(db, settings)
    with db.begin() as s:
        item = s.get(Item, item_id)
        if item is None or not _series_item(s, item_id):
            return _jpeg(placeholder("not a series item"), 404)
        live = exposure.open_reveal(s, principal.user_id, item_id)
        clear = live is not None and not exposure.budget_of(s, principal.user_id, policy).exhausted
        key = item.storage_key
    if key is None:
        return _jpeg(placeholder("media not kept"), 404)
    try:
        return _jpeg(render_preview(store.get(key), blurred=not clear))
    except (MediaStoreError, PreviewError):
        return _jpeg(placeholder("cannot preview"), 422)


@router.post("/items/{item_id}/open")
def open_item(
    request: Request,
    item_id: DbId,
    principal: Viewer,
    db: DbDep,
    settings: SettingsDep,
    series: Annotated[int, Form(ge=1, le=2**31 - 1)],
) -> Response:
    """Open one item unblurred: audited, counts against today's exposure budget."""
    policy = load_policy(db, settings)
    error = ""
    with db.begin() as s:
        if not _series_item(s, item_id):
            error = "not a series item"
        else:
            try:
                exposure.reveal(
                    s, item_id, principal.user_id, principal.actor, policy, check_claim=False
                )
            except AssessmentError as exc:
                error = str(exc)  # the refusal is audited: commit it
    if error:
        return render(
            request, "console/error.html", principal, 403, error=error,
            back=f"/console/victimid/series/{series}",
        )  # fmt: skip
    return RedirectResponse(f"/console/victimid/series/{series}#item-{item_id}", status_code=303)


@router.post("/items/{item_id}/hide")
def hide_item(
    item_id: DbId,
    principal: Viewer,
    db: DbDep,
    series: Annotated[int, Form(ge=1, le=2**31 - 1)],
) -> Response:
    """Blur again (stops the exposure clock)."""
    with db.begin() as s:
        exposure.hide(s, principal.user_id, principal.actor, item_id)
    return _back(series, "hidden")


@router.post("/series/{series_id}/export")
def export_package(
    request: Request, series_id: DbId, principal: Exporter, db: DbDep, settings: SettingsDep
) -> Response:
    """Download the signed package of a series (hashes, fields, features; no media, no clues).

    Packages with media or clues carry a key handed over separately: the API gives them.
    """
    services = services_of(request)
    try:
        with db.begin() as s:
            built = package.export_series(
                s, service.get_series(s, series_id), services.signer, actor=principal.actor,
                hotline=settings.hotline_name, store=services.media_store,
            )  # fmt: skip
    except DomainError as exc:
        return _error(request, principal, exc, f"/console/victimid/series/{series_id}")
    return Response(
        built.data,
        media_type="application/zip",
        headers={
            **NO_STORE,
            "Content-Disposition": f'attachment; filename="series-{series_id}.zip"',
        },
    )


@router.post("/series/{series_id}/send")
def send_package(
    request: Request,
    series_id: DbId,
    principal: Exporter,
    country: Annotated[str, Form(max_length=2)],
) -> Response:
    """Send the series' package to a partner hotline (signed; hashes and fields)."""
    try:
        send_series(services_of(request), series_id, country, actor=principal.actor)
    except DomainError as exc:
        return _error(request, principal, exc, f"/console/victimid/series/{series_id}")
    return _back(series_id, "sent")


@router.post("/known-lists", response_class=HTMLResponse)
async def known_list_upload(request: Request, principal: Manager) -> Response:
    """Import a known-series list (CSV or JSON file) into a hash bank."""
    try:
        data, name = await read_evidence(request)
        form = await request.form()
        bank = str(form.get("bank", "")).strip()
        source = str(form.get("source", "")).strip()[:200]
        if not bank:
            raise service.VictimIdInvalidError("name the hash bank the list goes into")
        entries, bad = known.parse_list(data, name.rsplit(".", 1)[-1] if "." in name else "")

        def store() -> known.KnownListResult:
            with services_of(request).sessionmaker.begin() as s:
                return known.import_list(s, bank, entries, actor=principal.actor, source=source)

        result = await run_in_threadpool(store)
    except DomainError as exc:
        return _error(request, principal, exc, "/console/victimid/")
    except ApiError as exc:
        return render(request, "console/error.html", principal, exc.status, error=str(exc),
                      back="/console/victimid/")  # fmt: skip
    return render(request, "victimid/imported.html", principal, result=result, bad=bad[:20],
                  bad_count=len(bad))  # fmt: skip
