"""Background job: the daily retention purge (when retention_purge_enabled)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from openhotline.config import RetentionSettings
from openhotline.db import transaction
from openhotline.jobs import service as jobs
from openhotline.retention.service import PURGE_JOB, purge

if TYPE_CHECKING:
    from openhotline.bootstrap import Services


def purge_job(services: Services, payload: dict[str, Any]) -> None:
    """Job: purge what the retention policies say (payload dry_run: count only)."""
    settings = services.settings.group(RetentionSettings)
    with transaction(services.sessionmaker) as session:
        purge(
            session,
            settings,
            dry_run=bool(payload.get("dry_run")),
            actor="retention",
            store=services.media_store,
        )


def enqueue_purge(services: Services) -> None:
    """Tick: queue one purge a day when enabled."""
    if not services.settings.retention_purge_enabled:
        return
    day = int(time.time() // 86400)
    with transaction(services.sessionmaker) as session:
        jobs.enqueue(session, PURGE_JOB, {}, dedupe_key=f"retention.purge:{day}")
