"""Two openhotline servers on 127.0.0.1 with separate databases exchange referrals both ways.

Instance AA refers a case to BB while BB is down (the referral waits in AA's outbox), BB
comes up and receives it once, BB's case moves on and its status updates flow back to AA;
then BB refers a case to AA. Every body is signed and checked by the receiver.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from openhotline.cases.models import Case, CaseStatus
from openhotline.cases.service import move
from openhotline.config import FederationPeer, Settings
from openhotline.db import make_engine, make_sessionmaker, transaction, utcnow
from openhotline.federation import service
from openhotline.federation.models import OutboxMessage, Referral
from openhotline.federation.tasks import DeliveryResult, deliver_outbox, run_federation
from openhotline.migrate import upgrade
from openhotline.partners import service as partners
from openhotline.signing.service import SigningKey, load_or_create
from tests.blocklist.helpers import confirmed_case
from tests.serverproc import ServerProcess

pytestmark = pytest.mark.slow


@dataclass
class Instance:
    country: str
    data_dir: Path
    url: str
    engine: Engine
    factory: sessionmaker[Session]
    key: SigningKey
    server: ServerProcess
    settings: Settings | None = None


def _instance(tmp: Path, country: str) -> Instance:
    data_dir = tmp / country
    url = f"sqlite:///{data_dir / 'openhotline.db'}"
    data_dir.mkdir()
    upgrade(url)
    engine = make_engine(url)
    return Instance(
        country,
        data_dir,
        url,
        engine,
        make_sessionmaker(engine),
        load_or_create(data_dir),
        ServerProcess(url, data_dir),
    )


def _issue_key(inst: Instance, peer_country: str) -> str:
    """The key `inst` gives the peer hotline so that it can send referrals to `inst`."""
    with transaction(inst.factory) as s:
        org = partners.create_org(s, f"Hotline {peer_country}", "hotline", peer_country, actor="t")
        _key, token = partners.create_key(s, org, ["referrals.receive"], actor="t")
    return token


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[Instance, Instance]]:
    a, b = _instance(tmp_path, "AA"), _instance(tmp_path, "BB")
    key_for_a, key_for_b = _issue_key(b, "AA"), _issue_key(a, "BB")
    for me, peer, token in ((a, b, key_for_a), (b, a, key_for_b)):
        peers = {
            peer.country: FederationPeer(
                base_url=peer.server.base, api_key=token, public_key=peer.key.public_b64
            )
        }
        me.settings = Settings(
            data_dir=me.data_dir,
            database_url=me.url,
            own_countries=[me.country],
            federation_peers=peers,
            federation_retry_base_seconds=60,
        )
        me.server.env.update(
            OPENHOTLINE_OWN_COUNTRIES=json.dumps([me.country]),
            OPENHOTLINE_FEDERATION_PEERS=json.dumps({k: v.model_dump() for k, v in peers.items()}),
        )
    try:
        yield a, b
    finally:
        for inst in (a, b):
            inst.server.stop()
            inst.engine.dispose()


def _deliver(inst: Instance, later: bool = False) -> tuple[int, int]:
    assert inst.settings is not None
    now = utcnow() + timedelta(hours=1) if later else None
    with httpx.Client(timeout=60, trust_env=False) as client:
        r = deliver_outbox(inst.factory, inst.settings, inst.key, client=client, now=now)
    return r.delivered, r.failed


def _refer(src: Instance, url: str, to: str) -> str:
    assert src.settings is not None
    with transaction(src.factory) as s:
        case = confirmed_case(s, url)
        return service.refer_case(
            s,
            case.id,
            to,
            src.settings,
            actor="user:analyst",
            classification={"scheme": "default", "label": "baseline"},
            trace={"ip": "192.0.2.10", "country": to, "asn": 64500},
        ).referral_id


def _received(inst: Instance, referral_id: str) -> tuple[Referral, Case]:
    with inst.factory() as s:
        ref = s.execute(
            select(Referral).where(Referral.referral_id == referral_id, Referral.direction == "in")
        ).scalar_one()
        case = s.get(Case, ref.case_id)
        assert case is not None
        return ref, case


def _status_out(inst: Instance, referral_id: str) -> str:
    with inst.factory() as s:
        return s.execute(
            select(Referral.status).where(
                Referral.referral_id == referral_id, Referral.direction == "out"
            )
        ).scalar_one()


def test_referral_both_ways_with_receiver_down_first(pair: tuple[Instance, Instance]) -> None:
    a, b = pair
    a.server.start(timeout=180)
    rid = _refer(a, "http://hosted-in-bb.example.test/page", "BB")
    # BB is down: delivery fails, the referral stays queued with a later retry time.
    assert _deliver(a) == (0, 1)
    with a.factory() as s:
        msg = s.execute(select(OutboxMessage)).scalar_one()
        assert msg.delivered_at is None and msg.attempts == 1 and msg.last_error
    assert _deliver(a) == (0, 0)  # not due yet
    assert _status_out(a, rid) == "pending"

    b.server.start(timeout=180)
    assert _deliver(a, later=True) == (1, 0)
    assert _status_out(a, rid) == "received"
    ref, case = _received(b, rid)
    assert case.canonical_url == "http://hosted-in-bb.example.test/page"
    payload = json.loads(ref.payload)
    assert payload["trace"]["asn"] == 64500 and payload["classification"]["label"] == "baseline"
    assert payload["media_included"] is False
    assert _deliver(a, later=True) == (0, 0)  # delivered once, not again

    # BB works its case; the status updates flow back to AA.
    with transaction(b.factory) as s:
        bcase = s.get(Case, case.id)
        assert bcase is not None
        move(s, bcase, CaseStatus.ASSESSED, actor="user:b-analyst")
        assert b.settings is not None
        assert service.sync_statuses(s, b.settings) == 1
        assert service.sync_statuses(s, b.settings) == 0
    assert _deliver(b) == (1, 0)
    assert _status_out(a, rid) == "assessed"
    with transaction(b.factory) as s:
        bcase = s.get(Case, case.id)
        assert bcase is not None
        move(s, bcase, CaseStatus.ACTIONED, actor="user:b-analyst")
        move(s, bcase, CaseStatus.REMOVED, actor="user:b-analyst")
    # The scheduled round: queue what changed, then send it.
    assert b.settings is not None
    assert run_federation(b.factory, b.settings, b.key) == DeliveryResult(1, 0)
    assert _status_out(a, rid) == "removed"
    with a.factory() as s:
        events = [
            e.detail
            for e in s.execute(select(Case)).scalar_one().events
            if e.kind.startswith("referral")
        ]
    assert events == ["BB", "BB: assessed", "BB: removed"]

    # The other way: BB refers a case hosted in AA.
    rid2 = _refer(b, "http://hosted-in-aa.example.test/x", "AA")
    assert _deliver(b) == (1, 0)
    _ref2, case2 = _received(a, rid2)
    assert case2.canonical_url == "http://hosted-in-aa.example.test/x"
    assert _status_out(b, rid2) == "received"
