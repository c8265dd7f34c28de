"""Police jobs: release held notices when a channel's auto-release time has passed."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from openhotline import db
from openhotline.db import transaction
from openhotline.jobs import service as jobs
from openhotline.police import service
from openhotline.police.models import PoliceChannel

if TYPE_CHECKING:
    from openhotline.bootstrap import Services

log = logging.getLogger("openhotline.police")


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
