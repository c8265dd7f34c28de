"""Bank subscriptions between two instances: A publishes its confirmed bank, B follows it.

A is a real `openhotline serve` on 127.0.0.1 with its own SQLite database; B is the test
database (SQLite and PostgreSQL). B subscribes with the key A issued and A's pinned public
key, syncs a snapshot, then deltas (additions and removals), refuses tampered or re-keyed
files without applying anything, falls back to the snapshot when a delta is missing, and
B's capture of a copy of A's item is handled by B's policy for that bank.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session, sessionmaker
from tests.pipeline_support import LocalSite, make_image
from tests.serverproc import ServerProcess
from typer.testing import CliRunner

from openhotline.assessment.banks import admit_item_hashes
from openhotline.audit.models import AuditEntry
from openhotline.blocklist import service as lists
from openhotline.bootstrap import build as build_services
from openhotline.cases.models import Case, CaseStatus
from openhotline.cli import app as cli_app
from openhotline.config import Settings
from openhotline.db import make_engine, make_sessionmaker, transaction
from openhotline.db import now as db_now
from openhotline.jobs.queue import build_queue
from openhotline.matching import service as banks
from openhotline.matching import subscriptions
from openhotline.matching.models import BankEntry, BankHint, BankSubscription, HashType
from openhotline.matching.policy import BankPolicy
from openhotline.matching.subscriptions import Fetched, HttpListFetcher, MissingFileError
from openhotline.matching.tasks import enqueue_due_syncs
from openhotline.media.models import Item, ItemStatus
from openhotline.migrate import upgrade
from openhotline.partners import service as partners
from openhotline.reporting.schemas import ReportIn
from openhotline.reporting.service import submit_report
from openhotline.signing.service import SigningKey, load_or_create

pytestmark = pytest.mark.slow

PNG_A, PNG_B, PNG_C = make_image(11), make_image(12), make_image(13)
HOSTS = {"host-b.test": ["127.0.0.1"]}


@dataclass
class Publisher:
    """Instance A: its database, signing key, a running server and B's key for it."""

    factory: sessionmaker[Session]
    engine: Engine
    key: SigningKey
    server: ServerProcess
    token: str

    @property
    def list_url(self) -> str:
        return f"{self.server.base}/api/v1/lists/hashes"


@pytest.fixture
def publisher(tmp_path: Path) -> Iterator[Publisher]:
    data_dir = tmp_path / "aa"
    data_dir.mkdir()
    url = f"sqlite:///{data_dir / 'openhotline.db'}"
    upgrade(url)
    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    with transaction(factory) as s:
        org = partners.create_org(s, "Hotline BB", "hotline", "BB", actor="t")
        _key, token = partners.create_key(s, org, ["hashes.read"], actor="t")
    server = ServerProcess(url, data_dir)
    server.start()
    try:
        yield Publisher(factory, engine, load_or_create(data_dir), server, token)
    finally:
        server.stop()
        engine.dispose()


def assessed_item(s: Session, data: bytes) -> Item:
    """An assessed item made of ``data`` (its hashes, no media), flushed."""
    item = Item(
        sha256=hashlib.sha256(data).hexdigest(),
        md5=hashlib.md5(data).hexdigest(),  # noqa: S324 - a published list format
        sha1=hashlib.sha1(data).hexdigest(),  # noqa: S324
        size=len(data),
        status=ItemStatus.ASSESSED.value,
    )
    s.add(item)
    s.flush()
    return item


def _confirm(pub: Publisher, data: bytes) -> str:
    """A confirms an item made of ``data`` (four eyes done) and publishes its lists."""
    with transaction(pub.factory) as s:
        item = assessed_item(s, data)
        admit_item_hashes(s, item, scheme="default", classification="baseline")
        lists.publish_lists(s, actor="t", provenance="Hotline AA")
        return item.sha256


def _unconfirm(pub: Publisher, sha256: str) -> None:
    """A withdraws an item from its confirmed bank (an appeal upheld) and publishes."""
    with transaction(pub.factory) as s:
        s.execute(
            update(BankEntry)
            .where(BankEntry.hash_value == sha256, BankEntry.removed_at.is_(None))
            .values(removed_at=db_now(s))
        )
        lists.publish_lists(s, actor="t", provenance="Hotline AA")


def _regrade(pub: Publisher, sha256: str, classification: str) -> None:
    """A changes the grade of an item it already published (a second review) and publishes."""
    with transaction(pub.factory) as s:
        s.execute(
            update(BankEntry)
            .where(BankEntry.hash_value == sha256, BankEntry.removed_at.is_(None))
            .values(classification=classification)
        )
        lists.publish_lists(s, actor="t", provenance="Hotline AA")


def _grades(factory: sessionmaker[Session]) -> dict[str, str]:
    with factory() as s:
        bank = banks.get_bank(s, "from-aa")
        return {e.hash_value: e.classification for e in banks.iter_entries(s, bank)}


def _subscribe(factory: sessionmaker[Session], pub: Publisher, tmp: Path) -> None:
    key_file = tmp / "aa.key"
    key_file.write_text(pub.token + "\n")
    with transaction(factory) as s:
        subscriptions.subscribe(s, "from-aa", pub.list_url, key_file, pub.key.public_b64, "t")


def _sync(factory: sessionmaker[Session], fetcher: subscriptions.ListFetcher) -> object:
    session = factory()
    try:
        return subscriptions.sync(session, "from-aa", fetcher, actor="t")
    finally:
        session.commit()
        session.close()


def _live(factory: sessionmaker[Session]) -> set[tuple[str, str]]:
    with factory() as s:
        bank = banks.get_bank(s, "from-aa")
        return {(e.hash_type, e.hash_value) for e in banks.iter_entries(s, bank)}


class Tampering:
    """A fetcher that changes one byte of every list file it passes on."""

    def __init__(self, inner: HttpListFetcher) -> None:
        self.inner = inner

    def get(self, url: str, api_key: str) -> Fetched:
        got = self.inner.get(url, api_key)
        if url.endswith(".json") and b"sha256" in got.data:
            return Fetched(got.data.replace(b'"sha256":"', b'"sha256":"0', 1)[:-1], got.headers)
        return got


class NoDeltas:
    """A publisher that no longer keeps old deltas."""

    def __init__(self, inner: HttpListFetcher) -> None:
        self.inner = inner

    def get(self, url: str, api_key: str) -> Fetched:
        if "/delta/" in url:
            raise MissingFileError(f"{url}: gone")
        return self.inner.get(url, api_key)


def test_b_follows_a_by_snapshot_then_deltas(
    publisher: Publisher, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    http = HttpListFetcher(timeout=30)
    first = _confirm(publisher, PNG_A)
    _subscribe(session_factory, publisher, tmp_path)
    r = _sync(session_factory, http)
    assert (r.mode, r.from_version, r.version) == ("snapshot", 0, 1)  # type: ignore[attr-defined]
    live = _live(session_factory)
    assert ("sha256", first) in live and {t for t, _v in live} == {"sha256", "md5", "sha1"}
    with session_factory() as s:
        bank = banks.get_bank(s, "from-aa")
        # A subscribed bank is a partner's: matches are hints until an admin trusts it.
        assert bank.policy == BankPolicy.REVIEW_WITH_HINT and bank.last_synced_at is not None
        entry = next(banks.iter_entries(s, bank, HashType.SHA256))
        # A's scheme travels with the grade; B maps it to its own scheme when it trusts A.
        assert (entry.classification, entry.source) == ("default:baseline", "Hotline AA")

    assert _sync(session_factory, http).mode == "unchanged"  # type: ignore[attr-defined]

    second = _confirm(publisher, PNG_B)
    _unconfirm(publisher, first)
    r = _sync(session_factory, http)
    assert r.mode == "delta" and r.version == 3  # type: ignore[attr-defined]
    live = _live(session_factory)
    assert ("sha256", second) in live and ("sha256", first) not in live
    assert len(live) == 3  # the second item's sha256, md5, sha1; the first's are removed

    # A tampered delta is refused whole: nothing applied, the error kept for the operator.
    third = _confirm(publisher, PNG_C)
    with pytest.raises(subscriptions.SubscriptionInvalidError, match="signature"):
        _sync(session_factory, Tampering(http))
    assert ("sha256", third) not in _live(session_factory)
    with session_factory() as s:
        sub = s.scalars(select(BankSubscription)).one()
        assert "signature" in sub.last_error and sub.version == 3

    # The delta is gone at A: B resynchronises from the snapshot and ends equal to A.
    r = _sync(session_factory, NoDeltas(http))
    assert r.mode == "snapshot" and r.version == 4  # type: ignore[attr-defined]
    assert {v for t, v in _live(session_factory) if t == "sha256"} == {second, third}
    with session_factory() as s:
        assert s.scalars(select(BankSubscription)).one().last_error == ""


def test_a_regrade_at_a_reaches_b_by_delta_and_by_snapshot(
    publisher: Publisher, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    http = HttpListFetcher(timeout=30)
    sha = _confirm(publisher, PNG_A)
    _subscribe(session_factory, publisher, tmp_path)
    _sync(session_factory, http)
    assert _grades(session_factory)[sha] == "default:baseline"

    _regrade(publisher, sha, "default:category-b")
    r = _sync(session_factory, http)
    assert r.mode == "delta"  # type: ignore[attr-defined]
    assert _grades(session_factory)[sha] == "default:category-b"

    # A snapshot holds the same hashes with a new grade: the entries are regraded in place
    # (before, the insert skipped them as duplicates and the old grade stayed).
    _regrade(publisher, sha, "default:category-a")
    r = _sync(session_factory, NoDeltas(http))
    # The item's three hashes (SHA-256, MD5, SHA-1) carry its grade.
    assert r.mode == "snapshot" and r.reclassified == 3  # type: ignore[attr-defined]
    assert r.added == 0 and r.removed == 0  # type: ignore[attr-defined]
    assert _grades(session_factory)[sha] == "default:category-a"
    with session_factory() as s:
        details = s.scalars(
            select(AuditEntry.details)
            .where(AuditEntry.action == "bank.sync")
            .order_by(AuditEntry.id.desc())
        ).first()
        assert details is not None and json.loads(details)["reclassified"] == 3


def test_a_new_signing_key_is_never_followed(
    publisher: Publisher, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    _confirm(publisher, PNG_A)
    key_file = tmp_path / "aa.key"
    key_file.write_text(publisher.token)
    other = load_or_create(tmp_path / "someone-else")
    with transaction(session_factory) as s:
        subscriptions.subscribe(s, "from-aa", publisher.list_url, key_file, other.public_b64, "t")
    with pytest.raises(subscriptions.SubscriptionInvalidError, match="pinned"):
        _sync(session_factory, HttpListFetcher(timeout=30))
    assert _live(session_factory) == set()


@pytest.mark.parametrize("trusted", [False, True])
def test_b_captures_a_copy_per_its_policy(
    publisher: Publisher,
    session_factory: sessionmaker[Session],
    settings: Settings,
    tmp_path: Path,
    trusted: bool,
) -> None:
    _confirm(publisher, PNG_A)
    _subscribe(session_factory, publisher, tmp_path)
    # The scheduled path: the tick queues the due sync, a worker runs it.
    rt = build_services(settings)
    enqueue_due_syncs(rt)
    build_queue(rt, name=f"t{uuid.uuid4().hex[:8]}").drain()
    rt.close()
    assert len(_live(session_factory)) == 3
    if trusted:
        with transaction(session_factory) as s:
            bank = banks.get_bank(s, "from-aa")
            banks.set_policy(s, bank, BankPolicy.AUTO_ASSESS, actor="user:admin")
            banks.set_mapping(
                s, bank, {"default:baseline": "baseline"}, actor="user:admin",
                local_scheme="default",
            )  # fmt: skip
    site = LocalSite().start()
    try:
        site.html("/p", '<img src="/a.png">')
        site.media("/a.png", PNG_A)
        local = settings.model_copy(
            update={"crawler_allow_networks": ["127.0.0.0/8"], "dns_overrides": HOSTS}
        )
        with transaction(session_factory) as s:
            submit_report(s, ReportIn(urls=[site.url("/p", "host-b.test")]))
        rt = build_services(local)
        build_queue(rt, name=f"t{uuid.uuid4().hex[:8]}").drain()
        rt.close()
    finally:
        site.stop()
    with session_factory() as s:
        item = s.scalars(select(Item)).one()
        if trusted:
            assert item.status == ItemStatus.AUTO_ASSESSED
            assert s.scalars(select(Case)).one().status == CaseStatus.ASSESSED
            return
        # Review with hint (B's default for A's bank): the analyst sees A's grade.
        assert item.status == ItemStatus.NEW
        hints = s.scalars(select(BankHint)).all()
        # One hint per hash that matched (SHA-256, MD5, SHA-1), each with A's grade.
        assert {h.hash_type for h in hints} == {"sha256", "md5", "sha1"}
        assert {(h.policy, h.classification) for h in hints} == {
            (BankPolicy.REVIEW_WITH_HINT, "default:baseline")
        }
        case = s.scalars(select(Case)).one()
        assert case.status != CaseStatus.ASSESSED


def test_subscribe_refuses_bad_input(
    session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    key_file = tmp_path / "k"
    key_file.write_text("token")
    good_key = load_or_create(tmp_path / "pub").public_b64
    cases = [
        ("ftp://x.test/api/v1/lists/hashes", key_file, good_key, "http"),
        ("https://x.test/api/v1/lists/urls", key_file, good_key, "hash list"),
        ("https://x.test/api/v1/lists/hashes", tmp_path / "missing", good_key, "cannot read"),
        ("https://x.test/api/v1/lists/hashes", key_file, "not-a-key", "verify key"),
    ]
    for url, kf, vk, message in cases:
        with (
            pytest.raises(subscriptions.SubscriptionInvalidError, match=message),
            transaction(session_factory) as s,
        ):
            subscriptions.subscribe(s, "b", url, kf, vk, "t")
    with session_factory() as s:
        assert s.scalars(select(BankSubscription)).all() == []


def test_cli_subscribe_sync_and_list(
    publisher: Publisher, settings: Settings, tmp_path: Path, db_url: str
) -> None:
    _confirm(publisher, PNG_A)
    key_file, verify_file = tmp_path / "aa.key", tmp_path / "aa.pub"
    key_file.write_text(publisher.token)
    verify_file.write_text(publisher.key.public_b64)
    env = {"OPENHOTLINE_DATABASE_URL": db_url, "OPENHOTLINE_DATA_DIR": str(settings.data_dir)}
    runner = CliRunner()
    args = ["bank", "subscribe", "from-aa", publisher.list_url, "--key", str(key_file)]
    r = runner.invoke(cli_app, [*args, "--verify-key", str(verify_file)], env=env)
    assert r.exit_code == 0, r.output
    r = runner.invoke(cli_app, ["bank", "sync"], env=env)
    assert r.exit_code == 0 and "snapshot version 0 -> 1, added 3" in r.output, r.output
    r = runner.invoke(cli_app, ["bank", "subscriptions"], env=env)
    assert "from-aa" in r.output and "version 1" in r.output
    r = runner.invoke(cli_app, ["bank", "sync", "nope"], env=env)
    assert r.exit_code == 1 and "no bank named 'nope'" in r.output


def test_hash_list_in_hma_local_file_format(
    publisher: Publisher, session_factory: sessionmaker[Session]
) -> None:
    sha = _confirm(publisher, PNG_A)
    got = HttpListFetcher(timeout=30).get(f"{publisher.list_url}/snapshot/1.hma", publisher.token)
    lines = got.data.decode().splitlines()
    assert f"sha256 {sha}" in lines and all(len(line.split(" ")) == 2 for line in lines)
    # What `bank import --format hma` reads back.
    from openhotline.matching.formats import parse_hma

    rows = list(parse_hma(lines))
    assert {r.hash_type for r in rows} == {HashType.SHA256, HashType.MD5, HashType.SHA1}
