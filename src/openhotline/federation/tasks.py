"""Background job: deliver the federation outbox to peer hotlines, with retries.

Call `deliver_outbox(...)` on a schedule (e.g. every minute) and `sync_statuses` before it;
a message stays in the outbox until the peer answers 2xx, so nothing is lost while a peer
is down. Each body is signed with this hotline's Ed25519 key.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import httpx
from sqlalchemy.orm import Session, sessionmaker

from openhotline.config import Settings
from openhotline.db import transaction
from openhotline.federation import service
from openhotline.federation.models import OutboxMessage
from openhotline.jobs import service as jobs
from openhotline.signing.service import SigningKey

if TYPE_CHECKING:
    from openhotline.bootstrap import Services

log = logging.getLogger("openhotline.federation")
PATHS = {"referral": "/api/v1/federation/referrals", "status": "/api/v1/federation/status"}
SIGNATURE_HEADER = "X-Openhotline-Signature"
SENDER_HEADER = "X-Openhotline-Sender"


@dataclass(frozen=True)
class DeliveryResult:
    """How one run of the outbox went."""

    delivered: int
    failed: int


def deliver_outbox(
    factory: sessionmaker[Session],
    settings: Settings,
    key: SigningKey,
    *,
    client: httpx.Client | None = None,
    now: datetime | None = None,
    timeout: float = 10.0,
) -> DeliveryResult:
    """Send every due message once; 2xx marks it delivered, anything else schedules a retry."""
    own = client or httpx.Client(timeout=timeout, follow_redirects=False)
    delivered = failed = 0
    try:
        with transaction(factory) as session:
            due = [m.id for m in service.due_messages(session, now)]
        for msg_id in due:
            with transaction(factory) as session:
                msg = session.get(OutboxMessage, msg_id)
                if msg is None or msg.delivered_at is not None:
                    continue
                peer = settings.federation_peers.get(msg.peer)
                if peer is None:
                    service.mark_failed(
                        session, msg, f"no peer configured for {msg.peer}", settings
                    )
                    failed += 1
                    continue
                body = msg.body.encode("utf-8")
                headers = {
                    "Authorization": f"Bearer {peer.api_key}",
                    "Content-Type": "application/json",
                    SIGNATURE_HEADER: key.sign(body),
                    SENDER_HEADER: service.own_country(settings),
                }
                url = peer.base_url.rstrip("/") + PATHS[msg.kind]
                try:
                    response = own.post(url, content=body, headers=headers)
                except httpx.HTTPError as exc:
                    service.mark_failed(session, msg, f"{type(exc).__name__}: {exc}", settings)
                    failed += 1
                    continue
                if 200 <= response.status_code < 300:
                    service.mark_delivered(session, msg)
                    delivered += 1
                else:
                    service.mark_failed(
                        session,
                        msg,
                        f"HTTP {response.status_code}: {response.text[:300]}",
                        settings,
                    )
                    failed += 1
    finally:
        if client is None:
            own.close()
    if failed:
        log.warning("federation outbox: %d delivered, %d failed (will retry)", delivered, failed)
    return DeliveryResult(delivered, failed)


def run_federation(
    factory: sessionmaker[Session], settings: Settings, key: SigningKey
) -> DeliveryResult:
    """One scheduled round: pick up routed referrals, queue status updates, then send."""
    with transaction(factory) as session:
        service.dispatch_takedown_referrals(session, settings)
        service.sync_statuses(session, settings)
    return deliver_outbox(factory, settings, key)


def federation_job(services: Services, _payload: dict[str, Any]) -> None:
    """Job: one federation round (idempotent: delivered messages are not sent again)."""
    run_federation(services.sessionmaker, services.settings, services.signer)


def enqueue_federation(services: Services) -> None:
    """Queue a federation round every minute when peers are configured."""
    if not services.settings.federation_peers:
        return
    with transaction(services.sessionmaker) as session:
        minute = int(time.time() // 60)
        jobs.enqueue(session, "federation.run", {}, dedupe_key=f"federation.run:{minute}")
