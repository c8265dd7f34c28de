"""Matching jobs: scheduled syncs of subscribed and exchange-fed banks, local features."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from openhotline import db
from openhotline.db import transaction
from openhotline.jobs import service as jobs
from openhotline.matching import subscriptions
from openhotline.matching.models import BankExchangeFeed, HashBank

if TYPE_CHECKING:
    from openhotline.bootstrap import Services

log = logging.getLogger("openhotline.matching")
SYNC_JOB = "bank.sync"
EXCHANGE_SYNC_JOB = "bank.exchange_sync"


def item_features_job(services: Services, payload: dict[str, Any]) -> None:
    """Job-queue handler: store the local features of an item admitted to an own bank.

    Idempotent (one live row per item and bank). The item's bytes come from the encrypted
    media store; an item whose media is gone (erased by retention) keeps its hashes only.
    """
    from openhotline.matching import service
    from openhotline.matching.features import item_features
    from openhotline.media.decode import MediaError
    from openhotline.media.models import Item

    with transaction(services.sessionmaker) as session:
        item = session.get(Item, int(payload["item_id"]))
        if item is None or not item.storage_key or item.media_erased_at is not None:
            log.info("no media for item %s: no local features", payload["item_id"])
            return
        try:
            bank = service.get_bank(session, str(payload["bank"]))
        except service.BankError:
            log.info("bank %s is gone: no local features", payload["bank"])
            return
        entry = service.live_entry(session, bank, item.sha256)
        if entry is None:
            return  # removed from the bank meanwhile
        try:
            feats = item_features(services.media_store.get(item.storage_key))
        except (MediaError, OSError, KeyError) as exc:
            log.warning("item %s: no local features (%s)", item.id, exc)
            return
        service.add_features(session, bank, entry, feats.to_bytes(), len(feats), "four-eyes")


def sync_job(services: Services, payload: dict[str, Any]) -> None:
    """Job-queue handler: sync one subscribed bank; the error stays on the subscription."""
    name = str(payload["bank"])
    factory = services.sessionmaker
    session = factory()
    try:
        result = subscriptions.sync(session, name, services.list_fetcher, actor="system:sync")
        session.commit()
    except subscriptions.PublisherUnavailableError:
        session.commit()  # keep last_error; the queue retries with back-off
        raise
    except subscriptions.SubscriptionError as exc:
        # A file that fails its checks will fail again: record it, don't retry.
        session.commit()
        log.warning("bank sync %s refused: %s", name, exc)
        return
    finally:
        session.close()
    log.info(
        "bank sync %s: %s v%d -> v%d, +%d -%d",
        name, result.mode, result.from_version, result.version, result.added, result.removed,
    )  # fmt: skip


def exchange_sync_job(services: Services, payload: dict[str, Any]) -> None:
    """Job-queue handler: sync one exchange-fed bank; the error stays on the feed."""
    try:
        from openhotline.matching import exchange_feed
    except ImportError:
        # The extra went away after the feed was made: retrying cannot help.
        log.warning("exchange feed %s: python-threatexchange is not installed", payload["bank"])
        return
    name = str(payload["bank"])
    session = services.sessionmaker()
    try:
        feed = exchange_feed.feed_for(session, name)
        api = exchange_feed.build_api(feed, name, services.list_fetcher)
        result = exchange_feed.sync(session, name, api, actor="system:sync")
        session.commit()
    except subscriptions.PublisherUnavailableError:
        session.commit()  # keep last_error; the queue retries with back-off
        raise
    except subscriptions.SubscriptionError as exc:
        session.commit()
        log.warning("exchange feed %s refused: %s", name, exc)
        return
    finally:
        session.close()
    log.info(
        "exchange feed %s: %s, %d batches, +%d -%d",
        name, result.mode, result.batches, result.added, result.removed,
    )  # fmt: skip


def _due_feeds(session: Session) -> list[str]:
    """Banks whose exchange feed is due (the model only: no threatexchange import here)."""
    now = db.now(session)
    rows = session.execute(
        select(BankExchangeFeed, HashBank.name).join(
            HashBank, HashBank.id == BankExchangeFeed.bank_id
        )
    ).all()
    return [
        name
        for feed, name in rows
        if feed.last_attempt_at is None
        or (now - feed.last_attempt_at).total_seconds() >= feed.interval_minutes * 60
    ]


def enqueue_due_syncs(services: Services) -> None:
    """Queue a sync for every subscription whose interval has passed (deduplicated)."""
    if "hotline" not in services.settings.modules:
        return
    with transaction(services.sessionmaker) as session:
        now = db.now(session)
        for name in subscriptions.due(session):
            jobs.enqueue(
                session,
                SYNC_JOB,
                {"bank": name},
                # One queued sync per bank and interval slot, however often the tick runs.
                dedupe_key=f"bank-sync:{name}:{now:%Y-%m-%dT%H}:{now.minute // 5}",
                max_attempts=services.settings.job_max_attempts,
            )
        for name in _due_feeds(session):
            jobs.enqueue(
                session,
                EXCHANGE_SYNC_JOB,
                {"bank": name},
                dedupe_key=f"bank-exchange-sync:{name}:{now:%Y-%m-%dT%H}:{now.minute // 5}",
                max_attempts=services.settings.job_max_attempts,
            )
