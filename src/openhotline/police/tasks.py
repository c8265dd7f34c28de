"""Police jobs: auto-release of held notices; the steps of NCMEC CyberTipline submissions."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from openhotline import db
from openhotline.db import transaction
from openhotline.errors import DomainError
from openhotline.exports.cybertip import Reporter
from openhotline.jobs import service as jobs
from openhotline.media.store import MediaStoreError
from openhotline.police import ncmec, service
from openhotline.police.cybertip_client import CybertipRejectedError, CybertipTransientError
from openhotline.police.models import PoliceChannel

if TYPE_CHECKING:
    from openhotline.bootstrap import Services

log = logging.getLogger("openhotline.police")
_T = TypeVar("_T")
_R = TypeVar("_R")


def auto_release_job(services: Services, payload: dict[str, Any]) -> None:
    """Job-queue handler: apply every channel's auto-release rule (idempotent)."""
    with transaction(services.sessionmaker) as session:
        released = service.release_overdue(session)
    if released:
        log.info("police auto-release: %d referral(s) released to notice", len(released))


def enqueue_auto_release(services: Services) -> None:
    """Queue the auto-release check every few minutes while some channel has a rule."""
    if "hotline" not in services.settings.modules:
        return
    with transaction(services.sessionmaker) as session:
        ruled = session.scalar(
            select(PoliceChannel.id).where(PoliceChannel.auto_release_hours.is_not(None)).limit(1)
        )
        if ruled is None:
            return
        now = db.now(session)
        jobs.enqueue(
            session,
            "police.auto_release",
            {},
            dedupe_key=f"police-auto-release:{now:%Y-%m-%dT%H}:{now.minute // 5}",
            max_attempts=services.settings.job_max_attempts,
        )


# -- NCMEC CyberTipline submissions (police/ncmec.py) -------------------------------------


def ncmec_policy(services: Services) -> ncmec.StepPolicy:
    """The submission steps' settings."""
    s = services.settings
    return ncmec.StepPolicy(
        reporter=Reporter(s.cybertip_email, s.cybertip_first_name, s.cybertip_last_name),
        hotline=s.hotline_name,
        max_attempts=s.ncmec_max_attempts,
    )


def enqueue_ncmec(services: Services) -> None:
    """Start a submission for each new referral to a police channel that delivers to NCMEC."""
    if "hotline" not in services.settings.modules:
        return
    with transaction(services.sessionmaker) as session:
        started = ncmec.start_pending(session, ncmec_policy(services))
    if started:
        log.info("ncmec: %d submission(s) started", len(started))


def _run_step(
    services: Services,
    payload: dict[str, Any],
    step: str,
    begin: Callable[[Session, int, int], _T | None],
    call: Callable[[_T], _R],
    done: Callable[[Session, int, int, _R], None],
) -> None:
    """begin (one transaction) -> HTTP call (none held) -> done or step_failed (another)."""
    sub_id, index = int(payload["submission"]), int(payload.get("index", 0))
    policy = ncmec_policy(services)
    try:
        with transaction(services.sessionmaker) as session:
            work = begin(session, sub_id, index)
    except DomainError as exc:
        # Nothing NCMEC could ever accept (not US-hosted, invalid XML, media erased).
        with transaction(services.sessionmaker) as session:
            ncmec.step_failed(session, sub_id, step, str(exc), permanent=True, policy=policy)
        return
    if work is None:
        return  # done already (an earlier try finished it before the worker stopped)
    try:
        result = call(work)
    except (CybertipRejectedError, MediaStoreError) as exc:
        # Refused by NCMEC (credentials, invalid document), or the media cannot be read.
        with transaction(services.sessionmaker) as session:
            ncmec.step_failed(session, sub_id, step, str(exc), permanent=True, policy=policy)
        return
    except CybertipTransientError as exc:
        last = bool(payload.get("_last_attempt"))
        with transaction(services.sessionmaker) as session:
            ncmec.step_failed(session, sub_id, step, str(exc), permanent=last, policy=policy)
        if last:
            return
        raise  # the job queue retries it with back-off
    with transaction(services.sessionmaker) as session:
        done(session, sub_id, index, result)


def ncmec_open_job(services: Services, payload: dict[str, Any]) -> None:
    """POST /submit: open the referral's report (once; its id is stored)."""
    policy = ncmec_policy(services)
    _run_step(
        services,
        payload,
        "open",
        lambda s, sub, _i: ncmec.begin_open(s, sub, policy),
        services.cybertip_client.submit,
        lambda s, sub, _i, report: ncmec.open_done(s, sub, report, policy),
    )


def ncmec_upload_job(services: Services, payload: dict[str, Any]) -> None:
    """POST /upload: one of the case's files, decrypted from the media store."""
    policy = ncmec_policy(services)
    client = services.cybertip_client

    def send(up: ncmec.Upload) -> str:
        return client.upload(up.report_id, up.file_name, services.media_store.get(up.storage_key))

    _run_step(
        services,
        payload,
        "upload",
        ncmec.begin_upload,
        send,
        lambda s, sub, i, file_id: ncmec.upload_done(s, sub, i, file_id, policy),
    )


def ncmec_fileinfo_job(services: Services, payload: dict[str, Any]) -> None:
    """POST /fileinfo: one uploaded file's details and hashes."""
    policy = ncmec_policy(services)
    _run_step(
        services,
        payload,
        "fileinfo",
        ncmec.begin_fileinfo,
        services.cybertip_client.fileinfo,
        lambda s, sub, i, _r: ncmec.fileinfo_done(s, sub, i, policy),
    )


def ncmec_finish_job(services: Services, payload: dict[str, Any]) -> None:
    """POST /finish: the report goes to NCMEC; the referral is sent."""
    _run_step(
        services,
        payload,
        "finish",
        lambda s, sub, _i: ncmec.begin_finish(s, sub),
        services.cybertip_client.finish,
        lambda s, sub, _i, _ids: ncmec.finish_done(s, sub),
    )


def ncmec_retract_job(services: Services, payload: dict[str, Any]) -> None:
    """POST /retract: drop an unfinished report after a step failed for good."""
    _run_step(
        services,
        payload,
        "retract",
        lambda s, sub, _i: ncmec.begin_retract(s, sub),
        services.cybertip_client.retract,
        lambda s, sub, _i, _r: ncmec.retract_done(s, sub),
    )
