"""Background job: rebuild the lists (schedule every `list_publish_interval_hours`)."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from openhotline.blocklist.service import excluded_countries, publish_lists
from openhotline.config import Settings
from openhotline.db import transaction
from openhotline.jobs import service as jobs
from openhotline.jobs.queue import tick_hook
from openhotline.jobs.runtime import Runtime, handler


def rebuild_lists(factory: sessionmaker[Session], settings: Settings) -> dict[str, int]:
    """Publish new versions where the lists changed; return each list's current version."""
    with transaction(factory) as session:
        versions = publish_lists(
            session, exclude_countries=excluded_countries(settings), actor="scheduler"
        )
        return {kind.value: v.version for kind, v in versions.items()}


@handler("lists.publish")
def publish_job(rt: Runtime, _payload: dict[str, Any]) -> None:
    """Job: rebuild the lists (idempotent: an unchanged list keeps its version)."""
    rebuild_lists(rt.sessionmaker, rt.settings)


@tick_hook
def enqueue_list_publish(rt: Runtime) -> None:
    """Queue one rebuild per `list_publish_interval_hours` (0 = only on demand)."""
    hours = rt.settings.list_publish_interval_hours
    if hours <= 0:
        return
    bucket = int(time.time() // (hours * 3600))
    with transaction(rt.sessionmaker) as session:
        jobs.enqueue(session, "lists.publish", {}, dedupe_key=f"lists.publish:{bucket}")
