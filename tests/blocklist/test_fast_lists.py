"""Fast lists (issue 14): digest skip, sorted-stream diff, streamed files and signatures."""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from openhotline.blocklist import service
from openhotline.blocklist.formats import Row, render_delta, render_snapshot, write_snapshot
from openhotline.blocklist.models import ListEntry, ListKind, ListVersion
from openhotline.signing.service import SignatureError, SigningKey, load_or_create, verify

STAMP = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)

# SHA-256 of what the renderer wrote before it streamed (commit 7c93f0a) for the lists
# below: 25,003 and 12,001 rows cross several 10,000-row batches.
GOLDEN = {
    "urls-snapshot-csv": "05f506c72651a1c5507e1592d691bd4da3be017f1cefd3c129639a14e6bd6474",
    "urls-snapshot-json": "69feb1022db5f33d8df171ba4304c55ffa26ab34741d2f6b31b4fbfa04bd46fa",
    "urls-delta-csv": "2e48b2c56e7dc18df74ca243ade8dbffd316650d10301b2eef9b593a317539a7",
    "urls-delta-json": "ff9085cb4b45f88c56e15dd92699e916fef2dc293764ff67c98eecdc5f1bfe0c",
    "hashes-snapshot-csv": "fb0d89a46e83605df8a64e4784712bb190d3f8fcf753d9077b809a7f10040b74",
    "hashes-snapshot-json": "da7b9e32f2395d8c570d0f720cbc1885450e5ba633520d8c47a1679735ab9cc5",
    "hashes-snapshot-hma": "67ff4005909a7b05623935e240fd278822971316cc7e6b1ef8b60ec9a0d2abb1",
    "hashes-delta-csv": "4118c453f1cc4a1a299f7afe7aafd1d1590d01c170007aed88b89df855cd0478",
    "hashes-delta-json": "1c9f3720b0bd448ce98bc12907a3255f3b0bdc8e95e209e556548c917bb9a08b",
}


def _generated(kind: str, n: int, salt: str) -> list[Row]:
    out: list[Row] = []
    for i in range(n):
        k = hashlib.sha256(f"{salt}{i}".encode()).hexdigest()
        if kind == "urls":
            url = f'http://h{i % 7}.example.test/p/{i}?q="{i}",é'
            out.append((k, url, None, None, None, None, None, None))
        else:
            cls = "default:baseline" if i % 2 else None
            out.append((k, None, k[:32], k[:40], None if i % 3 else k, cls, "Hotline", None))
    return sorted(out)


@pytest.mark.parametrize("kind", ["urls", "hashes"])
def test_streamed_files_are_byte_identical_to_the_old_renderer(kind: str) -> None:
    rows, other = _generated(kind, 25003, "a"), _generated(kind, 12001, "b")
    fmts = ("csv", "json", "hma") if kind == "hashes" else ("csv", "json")
    for fmt in fmts:
        data = render_snapshot(kind, 7, STAMP, len(rows), iter(rows), fmt)
        assert hashlib.sha256(data).hexdigest() == GOLDEN[f"{kind}-snapshot-{fmt}"], fmt
        sink = io.BytesIO()
        write_snapshot(sink, kind, 7, STAMP, len(rows), iter(rows), fmt)
        assert sink.getvalue() == data
    for fmt in ("csv", "json"):
        data = render_delta(kind, 5, 7, STAMP, iter(rows), iter(other), fmt)
        assert hashlib.sha256(data).hexdigest() == GOLDEN[f"{kind}-delta-{fmt}"], fmt


@pytest.mark.parametrize("size", [0, 1, 63, 1 << 20, (1 << 20) + 1, 3 * (1 << 20) - 7])
def test_file_signature_is_the_ordinary_ed25519_signature(tmp_path: Path, size: int) -> None:
    key = load_or_create(tmp_path)
    path = tmp_path / "list.bin"
    data = hashlib.shake_256(str(size).encode()).digest(size) if size else b""
    path.write_bytes(data)
    signature = key.sign_file(path)
    assert signature == key.sign(data)  # deterministic Ed25519: the very same bytes
    verify(data, signature, key.public_b64)
    with pytest.raises(SignatureError):
        verify(data + b"x", signature, key.public_b64)


@settings(max_examples=30, deadline=None)
@given(st.binary(max_size=5000))
def test_file_signature_matches_for_any_content(data: bytes) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        key = load_or_create(Path(tmp))
        path = Path(tmp) / "f"
        path.write_bytes(data)
        assert key.sign_file(path) == key.sign(data)


def _row(key: str, cls: str | None = "default:baseline") -> Row:
    return (key, None, key[:32], key[:40], key, cls, "Example Hotline", None)


def _hashes(n: int, salt: str = "x") -> list[Row]:
    return sorted(_row(hashlib.sha256(f"{salt}{i}".encode()).hexdigest()) for i in range(n))


def _live(s: Session, kind: ListKind) -> list[tuple[object, ...]]:
    c = ListEntry
    return [
        tuple(r)
        for r in s.execute(
            select(c.key, c.url, c.md5, c.sha1, c.pdq, c.classification, c.provenance, c.vpdq)
            .where(c.kind == kind, c.removed_version.is_(None))
            .order_by(c.key)
        )
    ]


def test_unchanged_source_is_recognised_by_its_digest(
    session_factory: sessionmaker[Session],
) -> None:
    rows = _hashes(50)
    with session_factory.begin() as s:
        v1 = service.publish_list(s, ListKind.HASHES, rows)
        assert v1.version == 1 and v1.entry_count == 50 and v1.added_count == 50
        assert v1.source_digest == service.source_digest(ListKind.HASHES, rows)
    with session_factory.begin() as s:
        # Entries deleted behind the service's back: a diff would notice, the digest does not
        # look, which shows an unchanged source is never diffed.
        s.execute(delete(ListEntry).where(ListEntry.key == rows[0][0]))
        again = service.publish_list(s, ListKind.HASHES, list(rows))
        assert again.version == 1
        assert s.scalar(select(ListVersion.id).where(ListVersion.version == 2)) is None


def test_one_changed_row_still_publishes(session_factory: sessionmaker[Session]) -> None:
    rows = _hashes(40)
    with session_factory.begin() as s:
        service.publish_list(s, ListKind.HASHES, rows)
    changed = list(rows)
    changed[17] = _row(rows[17][0], "default:other")  # same key, one column differs
    with session_factory.begin() as s:
        v2 = service.publish_list(s, ListKind.HASHES, changed)
        assert (v2.version, v2.entry_count, v2.added_count, v2.removed_count) == (2, 40, 1, 1)
        assert _live(s, ListKind.HASHES) == changed
        added, removed = service.delta_rows(s, ListKind.HASHES, 1, 2)
        assert list(added) == [changed[17]] and list(removed) == [rows[17]]
    with session_factory.begin() as s:
        v3 = service.publish_list(s, ListKind.HASHES, changed[:-1])  # one row fewer
        assert (v3.version, v3.added_count, v3.removed_count) == (3, 0, 1)


def test_a_version_from_before_digests_learns_its_digest(
    session_factory: sessionmaker[Session],
) -> None:
    rows = _hashes(10)
    with session_factory.begin() as s:
        v1 = service.publish_list(s, ListKind.HASHES, rows)
        v1.source_digest = None  # as every version published before migration 1120
    with session_factory.begin() as s:
        same = service.publish_list(s, ListKind.HASHES, rows)  # full diff: nothing changed
        assert same.version == 1
        assert same.source_digest == service.source_digest(ListKind.HASHES, rows)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (lambda r: [r[1], r[0], *r[2:]], "rising key order"),
        (lambda r: [r[0], r[0], *r[1:]], "rising key order"),
        (lambda r: [r[0][:4], *r[1:]], "8-tuples"),
        (lambda r: [(r[0][0].upper(), *r[0][1:]), *r[1:]], "SHA-256 hex"),
    ],
)
def test_a_malformed_source_is_refused_and_publishes_nothing(
    session_factory: sessionmaker[Session], bad: object, message: str
) -> None:
    rows = _hashes(30)
    source = bad(rows)  # type: ignore[operator]
    for existing in (False, True):
        if existing:
            with session_factory.begin() as s:
                service.publish_list(s, ListKind.HASHES, rows)
        with (
            pytest.raises(service.BlocklistInvalidError, match=message),
            session_factory.begin() as s,
        ):
            service.publish_list(s, ListKind.HASHES, source)
        with session_factory() as s:
            assert (service.latest(s, ListKind.HASHES) is None) is not existing
            assert _live(s, ListKind.HASHES) == ([] if not existing else rows)


def test_a_one_shot_iterator_is_refused(session_factory: sessionmaker[Session]) -> None:
    with session_factory.begin() as s, pytest.raises(TypeError, match="re-iterable"):
        service.publish_list(s, ListKind.HASHES, iter(_hashes(3)))


_KEYS = [hashlib.sha256(bytes([i])).hexdigest() for i in range(12)]
_contents = st.dictionaries(
    st.sampled_from(_KEYS), st.sampled_from(["default:a", "default:b", None]), max_size=12
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(a=_contents, b=_contents)
def test_publish_a_then_b_leaves_exactly_b_with_the_set_delta(
    session_factory: sessionmaker[Session], a: dict[str, str | None], b: dict[str, str | None]
) -> None:
    rows_a = sorted(_row(k, c) for k, c in a.items())
    rows_b = sorted(_row(k, c) for k, c in b.items())
    with session_factory() as s:
        try:
            v1 = service.publish_list(s, ListKind.HASHES, rows_a)
            v2 = service.publish_list(s, ListKind.HASHES, rows_b)
            assert _live(s, ListKind.HASHES) == rows_b
            assert list(service.snapshot_rows(s, ListKind.HASHES, v2.version)) == rows_b
            if rows_a == rows_b:
                assert v2.version == v1.version
                return
            assert v2.version == 2 and v2.entry_count == len(rows_b)
            added, removed = service.delta_rows(s, ListKind.HASHES, 1, 2)
            assert set(added) == set(rows_b) - set(rows_a)
            assert set(removed) == set(rows_a) - set(rows_b)
            assert (v2.added_count, v2.removed_count) == (
                len(set(rows_b) - set(rows_a)),
                len(set(rows_a) - set(rows_b)),
            )
            assert list(service.snapshot_rows(s, ListKind.HASHES, 1)) == rows_a
        finally:
            s.rollback()


def test_streamed_snapshot_verifies_with_the_existing_verifier(
    session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    key: SigningKey = load_or_create(tmp_path)
    rows = _hashes(25000)  # several render batches
    with session_factory.begin() as s:
        service.publish_list(s, ListKind.HASHES, rows)
        service.publish_list(s, ListKind.HASHES, rows[100:])
    cache = tmp_path / "lists"
    with session_factory() as s:
        for fmt in ("csv", "json", "hma"):
            f = service.snapshot_file(s, ListKind.HASHES, 1, fmt, key, cache)
            assert f.path is not None and f.path.parent == cache / key.key_id
            verify(f.path.read_bytes(), f.signature, key.public_b64)
            assert (cache / key.key_id / f"{f.name}.sig").read_text() == f.signature
            # Served again from the cache: same file, same signature.
            assert service.snapshot_file(s, ListKind.HASHES, 1, fmt, key, cache) == f
        d = service.delta_file(s, ListKind.HASHES, 1, 2, "json", key, cache)
        verify(d.data, d.signature, key.public_b64)
        assert d.data.count(b'"sha256"') == 100
        memory = service.snapshot_file(s, ListKind.HASHES, 1, "csv", key, None)
        assert (
            memory.path is None
            and memory.data == (cache / key.key_id / "hashes-v1.csv").read_bytes()
        )
    assert not [p for p in (cache / key.key_id).iterdir() if p.name.startswith(".")]
