"""CyberTipline submissions: a police referral whose channel delivers to NCMEC, step by step.

open (POST /submit) -> upload each file -> fileDetails per file -> finish; a step that fails
for good after the report is open retracts it. Each step is its own job (police/tasks.py):
a `begin_*` function here says what to send (None: that step is done already), the task
makes the HTTP call outside any transaction, and the matching `*_done` function records the
answer, writes the case timeline and queues the next step in one transaction. So a worker
restart resumes at the step it stopped at, and a referral has at most one report finished:
its report id is stored before any file goes up, and only that id is ever finished.
Services never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from openhotline import db
from openhotline.audit import service as audit
from openhotline.audit.models import AuditAction
from openhotline.cases.models import CaseEventKind
from openhotline.cases.service import record_event
from openhotline.errors import ConflictError, DomainError, NotFoundError
from openhotline.exports import cybertip
from openhotline.exports.service import cybertip_documents
from openhotline.jobs import service as jobs
from openhotline.media.models import CaseItem, Item
from openhotline.police.models import (
    DONE_STATES,
    Delivery,
    NcmecState,
    NcmecSubmission,
    PoliceChannel,
)
from openhotline.takedown.models import Referral, ReferralKind, ReferralStatus

ACTOR = "system:ncmec"
STEPS = ("open", "upload", "fileinfo", "finish", "retract")
JOB_KINDS = {step: f"police.ncmec_{step}" for step in STEPS}


class NcmecNotFoundError(NotFoundError):
    """No such submission."""


@dataclass(frozen=True)
class StepPolicy:
    """What the steps need from settings: who reports, and how often a step is tried."""

    reporter: cybertip.Reporter
    hotline: str
    max_attempts: int


def _sub(session: Session, submission_id: int) -> NcmecSubmission:
    sub = session.get(NcmecSubmission, submission_id, populate_existing=True)
    if sub is None:
        raise NcmecNotFoundError(f"no NCMEC submission {submission_id}")
    return sub


def _referral(session: Session, sub: NcmecSubmission) -> Referral:
    ref = session.get(Referral, sub.referral_id)
    if ref is None:  # a foreign key guarantees it; this keeps mypy and readers sure
        raise NcmecNotFoundError(f"no referral {sub.referral_id}")
    return ref


def _event(session: Session, sub: NcmecSubmission, detail: str) -> None:
    record_event(
        session,
        _referral(session, sub).case_id,
        CaseEventKind.REFERRAL_STATUS,
        actor=ACTOR,
        detail=f"NCMEC: {detail}"[:500],
    )


def _touch(session: Session, sub: NcmecSubmission, state: NcmecState | None = None) -> None:
    if state is not None:
        sub.state = state
    sub.updated_at = db.now(session)


def _queue(
    session: Session, sub: NcmecSubmission, step: str, policy: StepPolicy, index: int = 0
) -> None:
    # Keyed by the report id too: a submission started again opens a new report whose
    # steps must not be taken for the first round's (finished) jobs.
    round_ = sub.ncmec_report_id if sub.ncmec_report_id is not None else f"new{sub.attempts}"
    jobs.enqueue(
        session,
        JOB_KINDS[step],
        {"submission": sub.id, "index": index},
        dedupe_key=f"ncmec:{sub.id}:{round_}:{step}:{index}",
        max_attempts=policy.max_attempts,
    )


def start_pending(session: Session, policy: StepPolicy) -> list[int]:
    """Create a submission (and its first job) for every NCMEC-channel referral without one."""
    rows = session.execute(
        select(Referral)
        .join(PoliceChannel, PoliceChannel.destination == Referral.destination)
        .outerjoin(NcmecSubmission, NcmecSubmission.referral_id == Referral.id)
        .where(
            PoliceChannel.delivery == Delivery.NCMEC,
            Referral.kind.in_((ReferralKind.POLICE, ReferralKind.INTERNATIONAL_POLICE)),
            Referral.status == ReferralStatus.PENDING,
            NcmecSubmission.id.is_(None),
        )
        .order_by(Referral.id)
        .limit(200)
    ).scalars()
    started = []
    for ref in rows:
        started.append(start(session, ref, policy).id)
    return started


def start(session: Session, referral: Referral, policy: StepPolicy) -> NcmecSubmission:
    """The submission of one referral (created once: the referral id is unique)."""
    existing = session.scalar(
        select(NcmecSubmission).where(NcmecSubmission.referral_id == referral.id)
    )
    if existing is not None:
        return existing
    now = db.now(session)
    items = session.execute(
        select(Item)
        .join(CaseItem, CaseItem.item_id == Item.id)
        .where(CaseItem.case_id == referral.case_id, Item.storage_key.is_not(None))
        .order_by(Item.sha256)
    ).scalars()
    files: list[dict[str, Any]] = [
        {"item_id": i.id, "sha256": i.sha256, "file_id": None, "described": False} for i in items
    ]
    sub = NcmecSubmission(
        referral_id=referral.id,
        state=NcmecState.QUEUED,
        files=files,
        attempts=0,
        created_at=now,
        updated_at=now,
    )
    session.add(sub)
    session.flush()
    _event(session, sub, f"submission queued ({len(files)} file(s) to upload)")
    _queue(session, sub, "open", policy)
    return sub


# -- open ---------------------------------------------------------------------------------


def begin_open(session: Session, submission_id: int, policy: StepPolicy) -> bytes | None:
    """The report XML to POST to /submit, or None when the report is open already."""
    sub = _sub(session, submission_id)
    if sub.ncmec_report_id is not None or sub.state in DONE_STATES:
        return None
    if sub.state == NcmecState.OPENING:
        # The previous try died mid-request: NCMEC may hold an unfinished report from it.
        # It is never finished (its id was never stored) and NCMEC deletes unfinished
        # reports by itself, so opening again cannot make a second CyberTipline report.
        _event(session, sub, "an earlier attempt to open the report was interrupted; opening again")
    ref = _referral(session, sub)
    docs = cybertip_documents(
        session,
        ref.case_id,
        policy.reporter,
        actor=ACTOR,
        hosting_country=ref.country or "",
        hotline=policy.hotline,
    )
    sub.attempts += 1
    _touch(session, sub, NcmecState.OPENING)
    return docs["report.xml"]


def open_done(session: Session, submission_id: int, report_id: int, policy: StepPolicy) -> None:
    """NCMEC opened the report: store its id, then upload the first file (or finish)."""
    sub = _sub(session, submission_id)
    sub.ncmec_report_id = report_id
    sub.last_error = None
    _event(session, sub, f"report {report_id} opened")
    if sub.files:
        _touch(session, sub, NcmecState.UPLOADING)
        _queue(session, sub, "upload", policy, 0)
    else:
        _touch(session, sub, NcmecState.FINISHING)
        _queue(session, sub, "finish", policy)


# -- upload -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Upload:
    """One file to upload: the report it joins, its name, its storage key."""

    report_id: int
    file_name: str
    storage_key: str


def begin_upload(session: Session, submission_id: int, index: int) -> Upload | None:
    """The file to POST to /upload, or None when it is up already."""
    sub = _sub(session, submission_id)
    if sub.state != NcmecState.UPLOADING or sub.ncmec_report_id is None:
        return None
    entry = sub.files[index]
    if entry["file_id"]:
        return None
    item = session.get(Item, entry["item_id"])
    if item is None or item.storage_key is None:
        raise NcmecGoneError(f"file {index + 1}: the item's media is no longer stored")
    sub.attempts += 1
    _touch(session, sub)
    return Upload(sub.ncmec_report_id, f"{item.sha256}{_suffix(item.media_type)}", item.storage_key)


class NcmecGoneError(DomainError):
    """What a step needs is gone (the media was erased): the step cannot succeed."""


def _suffix(media_type: str) -> str:
    kind = media_type.split("/")[-1].split(";")[0].strip().lower()
    return {"jpeg": ".jpg", "png": ".png", "gif": ".gif", "webp": ".webp", "mp4": ".mp4"}.get(
        kind, ".bin"
    )


def upload_done(
    session: Session, submission_id: int, index: int, file_id: str, policy: StepPolicy
) -> None:
    """NCMEC has file index: store its file id, then the next file (or the file details)."""
    sub = _sub(session, submission_id)
    files = [dict(f) for f in sub.files]
    files[index]["file_id"] = file_id
    sub.files = files  # a new list, so the JSON column is written
    sub.last_error = None
    audit.record(
        session,
        ACTOR,
        AuditAction.EXPORT_NCMEC_FILE,
        f"case:{_referral(session, sub).case_id}",
        {"sha256": files[index]["sha256"], "report": sub.ncmec_report_id, "file_id": file_id},
    )
    _event(session, sub, f"file {index + 1} of {len(files)} uploaded (file id {file_id})")
    if index + 1 < len(files):
        _touch(session, sub)
        _queue(session, sub, "upload", policy, index + 1)
    else:
        _touch(session, sub, NcmecState.DESCRIBING)
        _queue(session, sub, "fileinfo", policy, 0)


# -- fileinfo -----------------------------------------------------------------------------


def begin_fileinfo(session: Session, submission_id: int, index: int) -> bytes | None:
    """The fileDetails XML of file index (validated), or None when it was sent already."""
    sub = _sub(session, submission_id)
    if sub.state != NcmecState.DESCRIBING or sub.ncmec_report_id is None:
        return None
    entry = sub.files[index]
    if entry["described"]:
        return None
    item = session.get(Item, entry["item_id"])
    if item is None:
        raise NcmecGoneError(f"file {index + 1}: the item is gone")
    seen = session.scalar(
        select(CaseItem.media_url).where(
            CaseItem.item_id == item.id, CaseItem.case_id == _referral(session, sub).case_id
        )
    )
    doc = cybertip.file_details_xml(
        cybertip.FileHashes(item.sha256, item.md5, item.sha1, item.pdq, seen),
        report_id=sub.ncmec_report_id,
        file_id=str(entry["file_id"]),
        file_name=f"{item.sha256}{_suffix(item.media_type)}",
    )
    cybertip.validate(doc)
    sub.attempts += 1
    _touch(session, sub)
    return doc


def fileinfo_done(session: Session, submission_id: int, index: int, policy: StepPolicy) -> None:
    """NCMEC took file index's details: the next file's, or finish."""
    sub = _sub(session, submission_id)
    files = [dict(f) for f in sub.files]
    files[index]["described"] = True
    sub.files = files
    sub.last_error = None
    _event(session, sub, f"details of file {index + 1} of {len(files)} sent")
    if index + 1 < len(files):
        _touch(session, sub)
        _queue(session, sub, "fileinfo", policy, index + 1)
    else:
        _touch(session, sub, NcmecState.FINISHING)
        _queue(session, sub, "finish", policy)


# -- finish -------------------------------------------------------------------------------


def _begin_report_step(session: Session, submission_id: int, state: NcmecState) -> int | None:
    """Count an attempt at a whole-report step; the report id, or None if not in `state`."""
    sub = _sub(session, submission_id)
    if sub.state != state or sub.ncmec_report_id is None:
        return None
    sub.attempts += 1
    _touch(session, sub)
    return sub.ncmec_report_id


def begin_finish(session: Session, submission_id: int) -> int | None:
    """The report id to POST to /finish, or None when it is finished (or being retracted)."""
    return _begin_report_step(session, submission_id, NcmecState.FINISHING)


def finish_done(session: Session, submission_id: int) -> None:
    """NCMEC has the report: the referral is sent."""
    sub = _sub(session, submission_id)
    now = db.now(session)
    sub.last_error = None
    sub.finished_at = now
    _touch(session, sub, NcmecState.FINISHED)
    ref = _referral(session, sub)
    ref.status = ReferralStatus.SENT
    ref.sent_at = now
    ref.detail = f"NCMEC CyberTipline report {sub.ncmec_report_id} ({len(sub.files)} file(s))"
    audit.record(
        session,
        ACTOR,
        AuditAction.EXPORT_NCMEC_REPORT,
        f"case:{ref.case_id}",
        {"referral": ref.id, "report": sub.ncmec_report_id, "files": len(sub.files)},
    )
    _event(session, sub, f"report {sub.ncmec_report_id} finished: the CyberTipline has it")


# -- retract ------------------------------------------------------------------------------


def begin_retract(session: Session, submission_id: int) -> int | None:
    """The report id to POST to /retract, or None when there is nothing to retract."""
    return _begin_report_step(session, submission_id, NcmecState.RETRACTING)


def retract_done(session: Session, submission_id: int) -> None:
    """NCMEC dropped the unfinished report: the referral failed (its reason is kept)."""
    sub = _sub(session, submission_id)
    sub.finished_at = db.now(session)
    _touch(session, sub, NcmecState.RETRACTED)
    _event(session, sub, f"report {sub.ncmec_report_id} retracted")


# -- failures -----------------------------------------------------------------------------


def step_failed(
    session: Session,
    submission_id: int,
    step: str,
    error: str,
    *,
    permanent: bool,
    policy: StepPolicy,
) -> None:
    """Record a failed step: a transient one is retried by the job queue (the caller raises);
    a permanent one retracts an open report, or fails the referral when none is open."""
    sub = _sub(session, submission_id)
    sub.last_error = error[:2000]
    if sub.state == NcmecState.OPENING:
        # The request was answered (with an error), so no report was opened by it.
        sub.state = NcmecState.QUEUED
    _touch(session, sub)
    if not permanent:
        _event(session, sub, f"{error}; will retry")
        return
    if step == "retract":
        _fail(session, sub, f"{error}; NCMEC deletes an unfinished report by itself")
    elif sub.ncmec_report_id is not None and sub.state not in DONE_STATES:
        _event(session, sub, f"{error}; retracting report {sub.ncmec_report_id}")
        _touch(session, sub, NcmecState.RETRACTING)
        _fail_referral(session, sub, error)
        _queue(session, sub, "retract", policy)
    elif sub.state not in DONE_STATES:
        _fail(session, sub, error)


def _fail_referral(session: Session, sub: NcmecSubmission, error: str) -> None:
    ref = _referral(session, sub)
    ref.status = ReferralStatus.FAILED
    ref.detail = f"NCMEC submission failed: {error}"[:2000]


def _fail(session: Session, sub: NcmecSubmission, error: str) -> None:
    sub.finished_at = db.now(session)
    _touch(session, sub, NcmecState.FAILED)
    _fail_referral(session, sub, error)
    _event(session, sub, f"submission failed: {error}")


def resubmit(session: Session, referral_id: int, policy: StepPolicy) -> NcmecSubmission:
    """Start a failed or retracted referral over (after the cause was fixed, e.g. credentials)."""
    sub = session.scalar(select(NcmecSubmission).where(NcmecSubmission.referral_id == referral_id))
    if sub is None:
        raise NcmecNotFoundError(f"referral {referral_id} has no NCMEC submission")
    if sub.state not in (NcmecState.FAILED, NcmecState.RETRACTED):
        raise ConflictError(f"referral {referral_id}'s submission is {sub.state}: not failed")
    ref = _referral(session, sub)
    files = [{**f, "file_id": None, "described": False} for f in sub.files]
    sub.files = files
    sub.ncmec_report_id = None
    sub.finished_at = None
    sub.last_error = None
    _touch(session, sub, NcmecState.QUEUED)
    ref.status = ReferralStatus.PENDING
    ref.detail = None
    _queue(session, sub, "open", policy)
    _event(session, sub, "submission started again by staff")
    return sub


def submissions(
    session: Session, *, open_only: bool = False
) -> list[tuple[NcmecSubmission, Referral]]:
    """Every submission with its referral, newest first."""
    q = (
        select(NcmecSubmission, Referral)
        .join(Referral, Referral.id == NcmecSubmission.referral_id)
        .order_by(NcmecSubmission.id.desc())
    )
    if open_only:
        q = q.where(NcmecSubmission.state.not_in(DONE_STATES))
    return [(s, r) for s, r in session.execute(q.limit(1000)).all()]
