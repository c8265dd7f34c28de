"""Rendered re-capture use cases: ask for one, and store what it produced (never commits)."""

from __future__ import annotations

import hashlib

from sqlalchemy import select
from sqlalchemy.orm import Session

from openhotline import db
from openhotline.audit import service as audit
from openhotline.audit.models import AuditAction
from openhotline.capture.crawler import CrawlResult
from openhotline.capture.filter import Filtered
from openhotline.capture.models import ArtifactKind, CaptureArtifact
from openhotline.capture.render import RenderResult
from openhotline.capture.service import (
    CaptureSummary,
    HashedMedia,
    Matcher,
    record_filtered,
    store_capture,
)
from openhotline.cases.lifecycle import REOPENABLE
from openhotline.cases.models import Case, CaseEventKind
from openhotline.cases.service import record_event
from openhotline.errors import ConflictError, NotFoundError, UnavailableError
from openhotline.jobs import service as jobs
from openhotline.media.store import MediaStore

ACTOR = "renderer"
JOB_KIND = "capture.render"


def request_render(session: Session, case_id: int, actor: str, *, unavailable: str | None) -> None:
    """Queue a rendered capture of the case (audited); UnavailableError when it cannot run."""
    if unavailable:
        raise UnavailableError(unavailable)
    case = session.get(Case, case_id)
    if case is None:
        raise NotFoundError(f"no case {case_id}")
    if REOPENABLE(case):
        raise ConflictError(f"case {case_id} is {case.status}: it is not captured again")
    minute = int(db.now(session).timestamp() // 60)
    jobs.enqueue(
        session,
        JOB_KIND,
        {"case_id": case_id},
        dedupe_key=f"render:{case_id}:{minute}",  # a double click queues one render
        max_attempts=2,
    )
    record_event(
        session, case_id, CaseEventKind.RECAPTURE_REQUESTED, actor=actor, detail="rendered"
    )
    audit.record(session, actor, AuditAction.CAPTURE_RENDER_REQUEST, f"case:{case_id}", {})


def store_render(
    session: Session,
    case: Case,
    result: RenderResult,
    hashed: list[HashedMedia],
    filtered: Filtered,
    store: MediaStore,
    matcher: Matcher | None,
) -> CaptureSummary:
    """Store a render's WARC and HTML (encrypted) and its media and screenshot as items."""
    now = db.now(session)
    for kind, data in ((ArtifactKind.WARC, result.warc), (ArtifactKind.HTML, result.html.encode())):
        digest = hashlib.sha256(data).hexdigest()
        session.add(
            CaptureArtifact(
                case_id=case.id,
                kind=kind,
                url=result.final_url or result.url,
                sha256=digest,
                size=len(data),
                storage_key=store.put(digest, data),
                created_at=now,
            )
        )
    record_filtered(session, case, filtered, actor=ACTOR)
    crawl = CrawlResult(
        url=result.url, final_url=result.final_url, status=result.status, skipped=result.blocked
    )
    summary = store_capture(session, case, crawl, hashed, store, matcher, source="render")
    detail = (
        f"rendered: {len(result.exchanges)} request(s) through the safe fetcher, "
        f"{len(result.blocked)} blocked; screenshot, HTML and WARC ({len(result.warc)} bytes) "
        f"stored; {len(hashed)} item(s)"
    )
    record_event(session, case.id, CaseEventKind.RENDERED, actor=ACTOR, detail=detail)
    return summary


def artifacts_of(session: Session, case_id: int) -> list[CaptureArtifact]:
    """The evidence files of a case's rendered captures, oldest first."""
    return list(
        session.execute(
            select(CaptureArtifact)
            .where(CaptureArtifact.case_id == case_id)
            .order_by(CaptureArtifact.id)
        ).scalars()
    )
