"""Report Remove jobs: the daily purge (expired requests, images held too long, stray blobs).

A plain function: `openhotline report-remove purge` calls it, and a tick hook queues one
deduplicated job per UTC day.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session, sessionmaker

from openhotline import db
from openhotline.db import transaction
from openhotline.jobs import service as jobs
from openhotline.reportremove import service
from openhotline.reportremove.store import OneItemStore

if TYPE_CHECKING:
    from openhotline.bootstrap import Services


def delete_blobs(store: OneItemStore, blobs: list[str]) -> None:
    """Delete blob files whose keys are already gone (a failure leaves work for the purge)."""
    for blob_id in blobs:
        with contextlib.suppress(OSError):
            store.delete(blob_id)


def run_purge(
    factory: sessionmaker[Session],
    store: OneItemStore,
    *,
    unclaimed_days: int,
    image_days: int,
) -> tuple[service.PurgeResult, int]:
    """Purge in one transaction, then delete the files; return the result and stray blobs."""
    with transaction(factory) as session:
        result = service.purge(session, unclaimed_days=unclaimed_days, image_days=image_days)
    delete_blobs(store, result.blobs)
    with factory() as session:
        strays = service.orphan_blobs(session, store)
    delete_blobs(store, strays)
    return result, len(strays)


def purge_job(services: Services, _payload: dict[str, Any]) -> None:
    """Job: the Report Remove purge."""
    s = services.settings
    run_purge(
        services.sessionmaker,
        services.removal_store,
        unclaimed_days=s.report_remove_unclaimed_days,
        image_days=s.report_remove_image_days,
    )


def enqueue_daily_purge(services: Services) -> None:
    """Queue the purge at most once per UTC day, when it has something to do."""
    s = services.settings
    with transaction(services.sessionmaker) as session:
        due = service.purge_due(
            session,
            services.removal_store,
            unclaimed_days=s.report_remove_unclaimed_days,
            image_days=s.report_remove_image_days,
        )
        if not due:
            return
        day = db.now(session).strftime("%Y-%m-%d")
        jobs.enqueue(session, "reportremove.purge", {}, dedupe_key=f"reportremove.purge:{day}")
