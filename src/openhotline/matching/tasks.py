"""Matching jobs: scheduled syncs of subscribed and exchange-fed banks, local features."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy.orm import Session, sessionmaker

from openhotline import db
from openhotline.db import transaction
from openhotline.errors import DomainError
from openhotline.jobs import service as jobs
from openhotline.matching import subscriptions
from openhotline.matching.models import BankExchangeFeed, BankSubscription

if TYPE_CHECKING:
    from openhotline.bootstrap import Services

log = logging.getLogger("openhotline.matching")
SYNC_JOB = "bank.sync"
EXCHANGE_SYNC_JOB = "bank.exchange_sync"
R = TypeVar("R")


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


def run_bank_sync(factory: sessionmaker[Session], sync: Callable[[Session], R]) -> R:
    """Run one bank sync in its own transaction, committed even when the sync fails.

    The sync records its error on the subscription or feed before raising, so the commit
    keeps it for `bank subscriptions` and the console.
    """
    session = factory()
    try:
        result = sync(session)
        session.commit()
        return result
    except DomainError:
        session.commit()
        raise
    finally:
        session.close()


def _sync_job(services: Services, what: str, sync: Callable[[Session], R]) -> R | None:
    """A scheduled sync: retried when the source is unavailable, dropped when it is refused."""
    try:
        return run_bank_sync(services.sessionmaker, sync)
    except subscriptions.PublisherUnavailableError:
        raise  # the queue retries with back-off
    except subscriptions.SubscriptionError as exc:
        # A file that fails its checks will fail again: it is recorded, not retried.
        log.warning("%s refused: %s", what, exc)
        return None


def sync_job(services: Services, payload: dict[str, Any]) -> None:
    """Job-queue handler: sync one subscribed bank; the error stays on the subscription."""
    name = str(payload["bank"])
    result = _sync_job(
        services,
        f"bank sync {name}",
        lambda s: subscriptions.sync(s, name, services.list_fetcher, actor="system:sync"),
    )
    if result is not None:
        log.info(
            "bank sync %s: %s v%d -> v%d, +%d -%d ~%d",
            name, result.mode, result.from_version, result.version, result.added,
            result.removed, result.reclassified,
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

    def sync(session: Session) -> exchange_feed.FeedResult:
        api = exchange_feed.build_api(
            exchange_feed.feed_for(session, name), name, services.list_fetcher
        )
        return exchange_feed.sync(session, name, api, actor="system:sync")

    result = _sync_job(services, f"exchange feed {name}", sync)
    if result is not None:
        log.info(
            "exchange feed %s: %s, %d batches, +%d -%d ~%d",
            name, result.mode, result.batches, result.added, result.removed,
            result.reclassified,
        )  # fmt: skip


def enqueue_due_syncs(services: Services) -> None:
    """Queue a sync for every subscription whose interval has passed (deduplicated)."""
    if "hotline" not in services.settings.modules:
        return
    with transaction(services.sessionmaker) as session:
        now = db.now(session)
        for name in subscriptions.due(session, BankSubscription):
            jobs.enqueue(
                session,
                SYNC_JOB,
                {"bank": name},
                # One queued sync per bank and interval slot, however often the tick runs.
                dedupe_key=f"bank-sync:{name}:{now:%Y-%m-%dT%H}:{now.minute // 5}",
                max_attempts=services.settings.job_max_attempts,
            )
        for name in subscriptions.due(session, BankExchangeFeed):
            jobs.enqueue(
                session,
                EXCHANGE_SYNC_JOB,
                {"bank": name},
                dedupe_key=f"bank-exchange-sync:{name}:{now:%Y-%m-%dT%H}:{now.minute // 5}",
                max_attempts=services.settings.job_max_attempts,
            )
