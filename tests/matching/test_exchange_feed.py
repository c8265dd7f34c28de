"""A bank fed through python-threatexchange's SignalExchangeAPI, fully offline: the
library's own local-file and sample exchanges, openhotline's list through the adapter
(against a real server on 127.0.0.1), and the CLI."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("threatexchange", reason="the [exchange] extra is not installed")

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from tests.matching.test_subscriptions import PNG_A, PNG_B, Publisher, publisher  # noqa: F401
from tests.matching.test_subscriptions import _confirm as confirm_at_a
from tests.matching.test_subscriptions import _regrade as regrade_at_a
from tests.matching.test_subscriptions import _unconfirm as unconfirm_at_a
from threatexchange.exchanges.impl.static_sample import StaticSampleSignalExchangeAPI
from threatexchange.signal_type.md5 import VideoMD5Signal
from threatexchange.signal_type.pdq.signal import PdqSignal
from threatexchange.signal_type.sha256 import VideoSHA256Signal
from typer.testing import CliRunner

from openhotline.audit.models import AuditEntry
from openhotline.bootstrap import build as build_services
from openhotline.cli import app
from openhotline.config import Settings, get_settings
from openhotline.db import transaction
from openhotline.jobs.models import Job
from openhotline.jobs.queue import build_queue
from openhotline.matching import exchange_feed
from openhotline.matching.models import BankEntry, BankExchangeFeed, HashBank
from openhotline.matching.subscriptions import (
    HttpListFetcher,
    PublisherUnavailableError,
    SubscriptionInvalidError,
)
from openhotline.matching.tasks import enqueue_due_syncs
from openhotline.migrate import upgrade

Factory = sessionmaker[Session]
PDQ_1 = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
PDQ_2 = "0f0f0f31e0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
MD5_1 = hashlib.md5(b"generated-1").hexdigest()  # noqa: S324 - a hash-list format
SHA_1 = hashlib.sha256(b"generated-1").hexdigest()


def _live(factory: Factory, bank: str) -> set[tuple[str, str]]:
    with factory() as s:
        rows = s.execute(
            select(BankEntry.hash_type, BankEntry.hash_value)
            .join(HashBank, HashBank.id == BankEntry.bank_id)
            .where(HashBank.name == bank, BankEntry.removed_at.is_(None))
        )
        return {(t, v) for t, v in rows}


def _sync(factory: Factory, bank: str) -> exchange_feed.FeedResult:
    with transaction(factory) as s:
        feed = exchange_feed.feed_for(s, bank)
        api = exchange_feed.build_api(feed, bank, HttpListFetcher())
        return exchange_feed.sync(s, bank, api, actor="t")


def _actions(factory: Factory, bank: str) -> list[str]:
    with factory() as s:
        return list(s.scalars(select(AuditEntry.action).where(AuditEntry.target == f"bank:{bank}")))


def _feed_from(factory: Factory, publisher: Publisher, tmp_path: Path, bank: str) -> None:  # noqa: F811
    """Feed `bank` from the publisher's list through openhotline's exchange adapter."""
    key_file = tmp_path / "aa.key"
    key_file.write_text(publisher.token + "\n")
    settings = {
        "list_url": publisher.list_url,
        "api_key_file": str(key_file),
        "verify_key": publisher.key.public_b64,
    }
    with transaction(factory) as s:
        exchange_feed.subscribe(s, bank, "openhotline", settings, actor="t")


def test_a_local_file_exchange_adds_and_removes(session_factory: Factory, tmp_path: Path) -> None:
    signals = tmp_path / "signals.txt"
    signals.write_text(f"pdq {PDQ_1}\nvideo_md5 {MD5_1}\nurl http://a.example.test/\npdq xyz\n")
    with transaction(session_factory) as s:
        exchange_feed.subscribe(s, "tx-file", "local_file", {"filename": str(signals)}, actor="t")
    first = _sync(session_factory, "tx-file")
    assert (first.mode, first.added, first.removed) == ("full", 2, 0)
    assert sum(first.skipped.values()) == 2  # the URL signal and the bad PDQ, with reasons
    assert any("url" in why for why in first.skipped)
    assert _live(session_factory, "tx-file") == {("pdq", PDQ_1), ("md5", MD5_1)}

    # The file changes: one line gone, one new. The file API has no checkpoint to tail
    # from, so every fetch is the whole file and what left is removed.
    signals.write_text(f"pdq {PDQ_1}\nvideo_sha256 {SHA_1}\n")
    second = _sync(session_factory, "tx-file")
    assert (second.mode, second.added, second.removed) == ("full", 1, 1)
    assert _live(session_factory, "tx-file") == {("pdq", PDQ_1), ("sha256", SHA_1)}
    third = _sync(session_factory, "tx-file")
    assert (third.added, third.removed) == (0, 0)
    assert _actions(session_factory, "tx-file") == ["bank.subscribe", "bank.sync", "bank.sync"]
    with session_factory() as s:
        bank = s.execute(select(HashBank).where(HashBank.name == "tx-file")).scalar_one()
        assert bank.source == "partner" and bank.policy == "review_with_hint"
        assert bank.last_synced_at is not None


def test_the_sample_exchange_fills_a_bank(session_factory: Factory) -> None:
    with transaction(session_factory) as s:
        exchange_feed.subscribe(s, "tx-sample", "sample", {}, actor="t")
    result = _sync(session_factory, "tx-sample")
    # Every type a bank holds: PDQ, MD5, SHA-256 and, with the video extra, vPDQ.
    held = [signal_type for signal_type, _ in exchange_feed.SIGNAL_TYPES.values()]
    assert {PdqSignal, VideoMD5Signal, VideoSHA256Signal} <= set(held)
    (delta,) = StaticSampleSignalExchangeAPI().fetch_iter(held, None)
    assert result.added == len(delta.updates) > 0
    assert _sync(session_factory, "tx-sample").added == 0


def test_bad_settings_and_a_failing_exchange(session_factory: Factory, tmp_path: Path) -> None:
    with transaction(session_factory) as s:
        with pytest.raises(SubscriptionInvalidError, match="unknown exchange"):
            exchange_feed.subscribe(s, "x", "nope", {}, actor="t")
        with pytest.raises(SubscriptionInvalidError, match="filename"):
            exchange_feed.subscribe(s, "x", "local_file", {"file": "a"}, actor="t")
        with pytest.raises(SubscriptionInvalidError, match="not a SignalExchangeAPI"):
            exchange_feed.subscribe(s, "x", "pathlib:Path", {}, actor="t")
    signals = tmp_path / "signals.txt"
    signals.write_text(f"pdq {PDQ_1}\n")
    with transaction(session_factory) as s:
        exchange_feed.subscribe(s, "tx", "local_file", {"filename": str(signals)}, actor="t")
    _sync(session_factory, "tx")
    signals.unlink()
    with pytest.raises(PublisherUnavailableError, match="No such file"):
        _sync(session_factory, "tx")
    # Nothing held was removed by the failed fetch.
    assert _live(session_factory, "tx") == {("pdq", PDQ_1)}


def test_a_bank_follows_another_openhotline_through_the_exchange_interface(
    session_factory: Factory,
    publisher: Publisher,  # noqa: F811
    tmp_path: Path,
) -> None:
    """Incremental: the adapter's checkpoint is kept, deltas bring removals."""
    sha_a = confirm_at_a(publisher, PNG_A)
    _feed_from(session_factory, publisher, tmp_path, "tx-aa")
    first = _sync(session_factory, "tx-aa")
    assert first.mode == "full" and ("sha256", sha_a) in _live(session_factory, "tx-aa")
    sha_b = confirm_at_a(publisher, PNG_B)
    unconfirm_at_a(publisher, sha_a)
    second = _sync(session_factory, "tx-aa")
    assert second.mode == "incremental" and second.removed >= 1 and second.added >= 1
    held = {v for t, v in _live(session_factory, "tx-aa") if t == "sha256"}
    assert held == {sha_b}
    with session_factory() as s:
        feed = s.execute(select(BankExchangeFeed)).scalar_one()
        assert '"version": 3' in feed.checkpoint


def test_a_regrade_at_the_source_regrades_the_fed_bank(
    session_factory: Factory,
    publisher: Publisher,  # noqa: F811
    tmp_path: Path,
) -> None:
    """The exchange sends a held hash again with a new grade: the entry takes it (before,
    the insert skipped it as a duplicate and the first grade stayed for good)."""
    sha = confirm_at_a(publisher, PNG_A)
    _feed_from(session_factory, publisher, tmp_path, "tx-grade")
    _sync(session_factory, "tx-grade")
    regrade_at_a(publisher, sha, "default:category-b")
    result = _sync(session_factory, "tx-grade")
    # The item's SHA-256 and MD5 (threatexchange has no SHA-1 signal type).
    assert result.mode == "incremental" and result.reclassified == 2
    assert (result.added, result.removed) == (0, 0)
    with session_factory() as s:
        grades = s.execute(
            select(BankEntry.hash_type, BankEntry.classification)
            .join(HashBank, HashBank.id == BankEntry.bank_id)
            .where(HashBank.name == "tx-grade", BankEntry.removed_at.is_(None))
        ).all()
        assert ("sha256", "default:category-b") in grades
    assert _actions(session_factory, "tx-grade")[-1] == "bank.sync"
    assert _sync(session_factory, "tx-grade").reclassified == 0


def test_the_tick_queues_a_due_feed_and_a_worker_syncs_it(
    session_factory: Factory, settings: Settings, tmp_path: Path
) -> None:
    signals = tmp_path / "signals.txt"
    signals.write_text(f"pdq {PDQ_1}\n")
    with transaction(session_factory) as s:
        exchange_feed.subscribe(s, "tx", "local_file", {"filename": str(signals)}, actor="t")
    rt = build_services(settings)
    try:
        enqueue_due_syncs(rt)
        build_queue(rt, name=f"t{uuid.uuid4().hex[:8]}").drain()
        assert _live(session_factory, "tx") == {("pdq", PDQ_1)}
        enqueue_due_syncs(rt)  # synced a moment ago: not due again within its interval
        with session_factory() as s:
            queued = s.scalars(select(Job.kind).where(Job.kind == "bank.exchange_sync")).all()
        assert len(queued) == 1
    finally:
        rt.close()


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("OPENHOTLINE_DATA_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    upgrade(get_settings().resolved_database_url())
    yield CliRunner()
    get_settings.cache_clear()


@pytest.mark.db
def test_cli_subscribe_and_sync(cli: CliRunner, tmp_path: Path) -> None:
    signals = tmp_path / "signals.txt"
    signals.write_text(f"pdq {PDQ_1}\npdq {PDQ_2}\n")
    r = cli.invoke(
        app, ["bank", "exchange-subscribe", "tx", "local_file", "--set", f"filename={signals}"]
    )
    assert r.exit_code == 0, r.output
    r = cli.invoke(app, ["bank", "exchange-sync"])
    assert r.exit_code == 0, r.output
    assert "tx: full fetch, 1 batch(es), added 2, removed 0" in r.output
    bad = cli.invoke(app, ["bank", "exchange-subscribe", "tx", "local_file", "--set", "oops"])
    assert bad.exit_code != 0 and "KEY=VALUE" in bad.output
    signals.unlink()
    failed = cli.invoke(app, ["bank", "exchange-sync", "tx"])
    assert failed.exit_code == 1 and "No such file" in failed.output
