"""Background job: rebuild the lists (schedule every `list_publish_interval_hours`)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session, sessionmaker

from openhotline.blocklist.service import (
    appeal_reply,
    excluded_countries,
    mark_appeal_replied,
    publish_lists,
)
from openhotline.config import Settings
from openhotline.db import transaction
from openhotline.jobs import service as jobs

if TYPE_CHECKING:
    from openhotline.bootstrap import Services


def rebuild_lists(factory: sessionmaker[Session], settings: Settings) -> dict[str, int]:
    """Publish new versions where the lists changed; return each list's current version."""
    with transaction(factory) as session:
        versions = publish_lists(
            session,
            exclude_countries=excluded_countries(settings),
            actor="scheduler",
            provenance=settings.hotline_name,
        )
        return {kind.value: v.version for kind, v in versions.items()}


def publish_job(services: Services, _payload: dict[str, Any]) -> None:
    """Job: rebuild the lists (idempotent: an unchanged list keeps its version)."""
    rebuild_lists(services.sessionmaker, services.settings)


def enqueue_list_publish(services: Services) -> None:
    """Queue one rebuild per `list_publish_interval_hours` (0 = only on demand)."""
    hours = services.settings.list_publish_interval_hours
    if hours <= 0:
        return
    bucket = int(time.time() // (hours * 3600))
    with transaction(services.sessionmaker) as session:
        jobs.enqueue(session, "lists.publish", {}, dedupe_key=f"lists.publish:{bucket}")


def send_appeal_reply(services: Services, payload: dict[str, Any]) -> None:
    """Job: e-mail an appeal's decision, then erase the address (a failed send retries)."""
    appeal_id = int(payload["appeal_id"])
    with services.sessionmaker() as session:
        message = appeal_reply(session, appeal_id, services.settings.notice_from)
    if message is None:
        return
    services.mailer.send(message)
    with transaction(services.sessionmaker) as session:
        mark_appeal_replied(session, appeal_id)
