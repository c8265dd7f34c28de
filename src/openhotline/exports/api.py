"""JSON routes of exports: police packages and CyberTipline XML (staff, audited)."""

from __future__ import annotations

import io
import zipfile
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from openhotline.accounts.deps import Principal, require
from openhotline.accounts.permissions import Permission
from openhotline.blocklist.api import KeyDep
from openhotline.errors import ForbiddenError
from openhotline.exports import service
from openhotline.exports.cybertip import Reporter
from openhotline.media.deps import MediaStoreDep
from openhotline.web.deps import DbDep, SettingsDep
from openhotline.web.params import DbId

router = APIRouter(prefix="/api/v1/exports", tags=["exports"])
Exporter = Annotated[Principal, Depends(require(Permission.EXPORTS_CREATE))]


@router.post("/cases/{case_id}/police", summary="Signed evidence package of a case (zip)")
def police(
    principal: Exporter,
    case_id: DbId,
    db: DbDep,
    key: KeyDep,
    settings: SettingsDep,
    store: MediaStoreDep,
    media: bool = False,
) -> Response:
    """The zip; with ?media=true (if permitted) the media key comes once, in a header."""
    if media and not settings.export_include_media:
        raise ForbiddenError("exports with media are not permitted here (export_include_media)")
    with db.begin() as s:
        export = service.police_export(
            s,
            case_id,
            key,
            actor=principal.actor,
            hotline=settings.hotline_name,
            media_store=store,
            include_media=media,
        )
    headers = {
        "Content-Disposition": f'attachment; filename="case-{case_id}-{export.export_id}.zip"',
        "Cache-Control": "no-store",
    }
    if export.media_key:
        headers["X-Openhotline-Media-Key"] = export.media_key
    return Response(export.data, media_type="application/zip", headers=headers)


@router.get("/cases/{case_id}/cybertip", summary="NCMEC CyberTipline documents (zip of XML)")
def cybertip(
    principal: Exporter, case_id: DbId, db: DbDep, settings: SettingsDep, hosting_country: str = ""
) -> Response:
    """report.xml and fileDetails-N.xml, validated; only for US-hosted content."""
    reporter = Reporter(
        settings.cybertip_email, settings.cybertip_first_name, settings.cybertip_last_name
    )
    with db.begin() as s:
        docs = service.cybertip_documents(
            s,
            case_id,
            reporter,
            actor=principal.actor,
            hosting_country=hosting_country,
            hotline=settings.hotline_name,
        )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, doc in sorted(docs.items()):
            zf.writestr(name, doc)
    return Response(
        out.getvalue(),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="cybertip-case-{case_id}.zip"'},
    )
