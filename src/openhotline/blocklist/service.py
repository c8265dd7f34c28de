"""Block list use cases: what is listed, publishing versions, snapshots, deltas, appeals.

Services never commit: the caller owns the transaction.

The contents of each list come from ONE function per list: `url_list_source` (takedown's
`urls_to_block` less URLs hosted in the hotline's own countries, by the latest hosting trace)
and `hash_list_source` (items in the assessment's four-eyes "confirmed" hash bank, and
Report Remove's "self-generated" bank).
"""

from __future__ import annotations

import hashlib
import marshal
import operator
import re
import secrets
import tempfile
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from itertools import islice
from pathlib import Path
from typing import IO, Any, cast

from sqlalchemy import Table, and_, insert, or_, select, update
from sqlalchemy.orm import Session

from openhotline import db, i18n
from openhotline.assessment.banks import CONFIRMED_BANK
from openhotline.audit.models import AuditAction
from openhotline.audit.service import record
from openhotline.blocklist.formats import (
    DELTA_FORMATS,
    FORMATS,
    Row,
    write_delta,
    write_snapshot,
)
from openhotline.blocklist.models import (
    Appeal,
    AppealStatus,
    ListEntry,
    ListKind,
    ListSourceChanges,
    ListVersion,
)
from openhotline.cases.lifecycle import LISTABLE
from openhotline.cases.models import Case, CaseStatus
from openhotline.cases.service import move
from openhotline.config import Settings
from openhotline.errors import ConflictError, DomainError, ErrorKind, InvalidError, NotFoundError
from openhotline.i18n import gettext as _
from openhotline.jobs import service as jobs
from openhotline.matching.models import BankEntry, BankVideoFrame, HashBank, HashType
from openhotline.media.models import Item
from openhotline.media.video import VideoFrame, format_te_json
from openhotline.reporting.service import url_hash
from openhotline.reportremove.published import hash_list_rows as self_generated_rows
from openhotline.signing.service import SigningKey
from openhotline.takedown.service import urls_to_block
from openhotline.trace.models import HostingTrace
from openhotline.urls import InvalidURLError, canonicalize

_ENTRIES = cast(Table, ListEntry.__table__)
CHUNK = 5000

# (url, md5, sha1, pdq[, classification, provenance, vpdq]) per key: what a list should hold.
Contents = dict[str, tuple[str | None, ...]]


class BlocklistError(DomainError):
    """Every error blocklist code raises on purpose (catch this); raise a kind below."""


class BlocklistInvalidError(BlocklistError, InvalidError):
    """Bad input or a refused operation; the message is safe to show."""

    kind = ErrorKind.INVALID


class BlocklistNotFoundError(BlocklistError, NotFoundError):
    """The thing named does not exist."""

    kind = ErrorKind.NOT_FOUND


class BlocklistConflictError(BlocklistError, ConflictError):
    """The request clashes with the current state."""

    kind = ErrorKind.CONFLICT


def url_list_source(session: Session, exclude_countries: Iterable[str] = ()) -> Contents:
    """Confirmed illegal URLs not yet removed (takedown's urls_to_block), less those whose
    latest hosting trace puts them in one of `exclude_countries` (the hotline's own)."""
    urls = urls_to_block(session)
    excluded = {c.upper() for c in exclude_countries}
    if excluded:
        latest: dict[int, str | None] = {}
        for case_id, country in session.execute(
            select(HostingTrace.case_id, HostingTrace.country).order_by(HostingTrace.id)
        ):
            latest[case_id] = country
        own = {
            case_url
            for case_id, case_url in session.execute(select(Case.id, Case.canonical_url))
            if (latest.get(case_id) or "").upper() in excluded
        }
        urls = [u for u in urls if u not in own]
    return {url_hash(u): (u, None, None, None) for u in urls}


def hash_list_source(session: Session, provenance: str = "") -> Contents:
    """Hashes of items confirmed by four eyes: those in the assessment's confirmed bank.

    An item is listed while its SHA-256 is a live entry of the "confirmed" bank; its MD5,
    SHA-1, (unless weak) PDQ and, for a video, the vPDQ frames of its live vpdq entry come
    with it, with the entry's classification. Provenance is the publishing hotline: the
    bank's internal source (an item id) never leaves.
    """
    bank_id = select(HashBank.id).where(HashBank.name == CONFIRMED_BANK).scalar_subquery()
    rows = session.execute(
        select(
            Item.id, Item.sha256, Item.md5, Item.sha1, Item.pdq, Item.weak,
            BankEntry.classification,
        )
        .join(
            BankEntry,
            and_(
                BankEntry.bank_id == bank_id,
                BankEntry.hash_type == HashType.SHA256.value,
                BankEntry.hash_value == Item.sha256,
                BankEntry.removed_at.is_(None),
            ),
        )
        .distinct()
    )  # fmt: skip
    who = provenance[:100] or None
    videos = _confirmed_videos(session, bank_id)
    # Report Remove's self-generated bank is published with it (an own item wins a tie).
    listed: Contents = self_generated_rows(session, provenance)
    listed.update(
        (sha, (None, md5, sha1, None if weak else pdq, (cls or None), who, videos.get(item_id)))
        for item_id, sha, md5, sha1, pdq, weak, cls in rows
    )
    return listed


def _confirmed_videos(session: Session, bank_id: Any) -> dict[int, str]:
    """Item id -> the vPDQ signal string of its live vpdq entry in the confirmed bank."""
    entries = (
        select(BankEntry.id, BankEntry.source)
        .where(
            BankEntry.bank_id == bank_id,
            BankEntry.hash_type == HashType.VPDQ.value,
            BankEntry.removed_at.is_(None),
        )
        .subquery()
    )
    frames: dict[str, list[VideoFrame]] = {}
    for source, pdq, quality, number, timestamp in session.execute(
        select(
            entries.c.source, BankVideoFrame.hash_value, BankVideoFrame.quality,
            BankVideoFrame.frame_number, BankVideoFrame.timestamp,
        )
        .join(BankVideoFrame, BankVideoFrame.entry_id == entries.c.id)
        .order_by(entries.c.id, BankVideoFrame.position)
    ):  # fmt: skip
        frames.setdefault(source, []).append(VideoFrame(pdq, quality, number, timestamp))
    # The confirmed bank's entries name their item ("item:<id>", assessment/banks.py).
    return {
        int(source[5:]): format_te_json(video)
        for source, video in frames.items()
        if source.startswith("item:") and source[5:].isdigit()
    }


def parse_kind(kind: str) -> ListKind:
    """Return a ListKind or raise BlocklistNotFoundError."""
    try:
        return ListKind(kind)
    except ValueError as exc:
        raise BlocklistNotFoundError(f"no list {kind!r} (lists: urls, hashes)") from exc


def latest(session: Session, kind: ListKind) -> ListVersion | None:
    """Return the newest version of a list, if any."""
    return session.execute(
        select(ListVersion)
        .where(ListVersion.kind == kind)
        .order_by(ListVersion.version.desc())
        .limit(1)
    ).scalar_one_or_none()


def get_version(session: Session, kind: ListKind, version: int) -> ListVersion:
    """Return one version or raise BlocklistNotFoundError."""
    row = session.execute(
        select(ListVersion).where(ListVersion.kind == kind, ListVersion.version == version)
    ).scalar_one_or_none()
    if row is None:
        raise BlocklistNotFoundError(f"{kind} list has no version {version}")
    return row


# A source: rows (key, url, md5, sha1, pdq, classification, provenance, vpdq) in strictly rising
# key order that can be iterated more than once (a list, or an object whose __iter__ starts
# a fresh stream), or a Contents dict (sorted here; fine for lists that fit in memory).
Source = Contents | Iterable[Row]
DIGEST_BATCH = 10000
_HEX = re.compile(r"[0-9a-f]*")


def _normalised(desired: Source) -> Iterable[Row]:
    if isinstance(desired, dict):
        return [
            cast(Row, (k, *v[:7], *(None,) * (7 - len(v[:7])))) for k, v in sorted(desired.items())
        ]
    if iter(desired) is desired:
        # A generator would be empty on the second pass and unpublish everything.
        raise TypeError("a list source must be re-iterable (a list or an object with __iter__)")
    return desired


def _batches(
    rows: Iterable[Row], digest: hashlib._Hash, *, hex_keys: bool = True
) -> Iterator[list[Row]]:
    """Rows in batches, checked to rise strictly by key, fed to `digest` as they pass.

    hex_keys=False skips the key-alphabet check: for a digest alone (a source matching a
    published digest is the source that was checked when that version was written).
    """
    it = iter(rows)
    prev: list[Any] = [""]
    while batch := list(islice(it, DIGEST_BATCH)):
        keys = prev + [row[0] for row in batch]
        # C-level checks (map over operator.lt): a per-row Python test doubled the cost.
        # Keys are SHA-256 hex: then Python's order is every database collation's order,
        # which the sorted-stream diff relies on.
        if (
            not all(map(operator.lt, keys, islice(keys, 1, None)))
            or any(map((8).__ne__, map(len, batch)))
            or (
                hex_keys
                and not (
                    all(map((64).__eq__, map(len, keys[1:]))) and _HEX.fullmatch("".join(keys[1:]))
                )
            )
        ):
            raise BlocklistInvalidError(
                "list source rows must be 8-tuples with SHA-256 hex keys in strictly rising "
                f"key order (near {str(batch[0])[:120]})"
            )
        prev = keys[-1:]
        # marshal format 0 is content-only (no sharing or interning marks): equal rows,
        # equal bytes, at C speed; a format change would only cost one full diff.
        digest.update(marshal.dumps(batch, 0))
        yield batch


def source_digest(kind: ListKind, desired: Source) -> str:
    """SHA-256 over a source's rows in key order (what a version remembers of its source)."""
    digest = _new_digest(kind)
    for _batch in _batches(_normalised(desired), digest, hex_keys=False):
        pass
    return digest.hexdigest()


def _new_digest(kind: ListKind) -> hashlib._Hash:
    return hashlib.sha256(f"openhotline list source v1 {kind.value}\n".encode())


_COLUMNS = "kind, key, url, md5, sha1, pdq, classification, provenance, vpdq, added_version"


def _insert_rows(session: Session, kind: ListKind, number: int, rows: Iterable[Row]) -> None:
    """Append entries with the driver's bulk path: COPY on PostgreSQL, executemany on SQLite."""
    conn = session.connection()
    raw: Any = conn.connection.driver_connection
    values = ((kind.value, *r, number) for r in rows)
    if conn.dialect.name == "postgresql":
        with (
            raw.cursor() as cur,
            cur.copy(f"COPY list_entries ({_COLUMNS}) FROM STDIN") as copy,
        ):
            for v in values:
                copy.write_row(v)
    else:
        cur = raw.cursor()
        try:
            cur.executemany(
                f"INSERT INTO list_entries ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
                values,
            )
        finally:
            cur.close()


def _mark_removed(session: Session, number: int, ids: Sequence[int]) -> None:
    for start in range(0, len(ids), CHUNK):
        session.execute(
            update(_ENTRIES)
            .where(_ENTRIES.c.id.in_(list(ids[start : start + CHUNK])))
            .values(removed_version=number)
        )


def _active(session: Session, kind: ListKind, upto: int) -> Iterator[tuple[Any, ...]]:
    """(id, key, url, md5, sha1, pdq, classification, provenance, vpdq) of live entries by key.

    Only entries added by version `upto` or earlier: rows this publish inserts meanwhile
    must not reappear in the scan.
    """
    conn = session.connection()
    raw: Any = conn.connection.driver_connection
    cols = "id, key, url, md5, sha1, pdq, classification, provenance, vpdq"
    if conn.dialect.name == "postgresql":
        # A server-side cursor streams in its own snapshot; inserts in between stay unseen.
        with raw.cursor(name="openhotline_list_active") as cur:
            cur.itersize = 20000
            cur.execute(
                f"SELECT {cols} FROM list_entries WHERE kind = %s AND removed_version IS NULL"  # noqa: S608
                " AND added_version <= %s ORDER BY key",
                (kind.value, upto),
            )
            yield from cur
        return
    cur = raw.cursor()
    try:
        cur.execute(
            f"SELECT {cols} FROM list_entries INDEXED BY ix_list_entries_kind_key"  # noqa: S608
            " WHERE kind = ? AND removed_version IS NULL AND added_version <= ? ORDER BY key",
            (kind.value, upto),
        )
        while chunk := cur.fetchmany(20000):
            yield from chunk
    finally:
        cur.close()


def _table_empty(session: Session) -> bool:
    return session.execute(select(_ENTRIES.c.id).limit(1)).first() is None


def _bulk_first(session: Session, kind: ListKind, number: int, batches: Iterable[list[Row]]) -> int:
    """Stream a whole list into an empty table, building its indexes afterwards."""
    conn = session.connection()
    sqlite = conn.dialect.name == "sqlite"
    count = 0

    def counted() -> Iterator[Row]:
        nonlocal count
        for batch in batches:
            count += len(batch)
            yield from batch

    empty = _table_empty(session)
    if empty:
        for index in _ENTRIES.indexes:
            index.drop(conn)
    old_cache = conn.exec_driver_sql("PRAGMA cache_size").scalar() if sqlite else None
    if sqlite:  # index builds sort in the page cache: 128 MB instead of 2 MB
        conn.exec_driver_sql("PRAGMA cache_size=-131072")
    try:
        _insert_rows(session, kind, number, counted())
        if empty:
            for index in _ENTRIES.indexes:
                index.create(conn)
    finally:
        if sqlite:
            conn.exec_driver_sql(f"PRAGMA cache_size={int(old_cache or -2000)}")
    return count


def _merge(
    session: Session, kind: ListKind, number: int, upto: int, batches: Iterable[list[Row]]
) -> tuple[int, int, int]:
    """Diff the sorted source against the live entries (both by key) in one pass.

    New keys are inserted as they come (in chunks); a key whose published columns changed
    is replaced (removed, then added again); live keys missing from the source are removed.
    Returns (entries, added, removed).
    """
    active = _active(session, kind, upto)
    removed: array[int] = array("q")
    pending: list[Row] = []
    count = added = 0
    current = next(active, None)
    for batch in batches:
        count += len(batch)
        for row in batch:
            key = row[0]
            while current is not None and current[1] < key:
                removed.append(current[0])
                current = next(active, None)
            if current is not None and current[1] == key:
                if tuple(current[1:]) != row:
                    removed.append(current[0])
                    pending.append(row)
                current = next(active, None)
            else:
                pending.append(row)
        if len(pending) >= CHUNK:
            _insert_rows(session, kind, number, pending)
            added += len(pending)
            pending = []
    while current is not None:
        removed.append(current[0])
        current = next(active, None)
    if pending:
        _insert_rows(session, kind, number, pending)
        added += len(pending)
    _mark_removed(session, number, removed)
    return count, added, len(removed)


def _has_active(session: Session, kind: ListKind) -> bool:
    return (
        session.execute(
            select(_ENTRIES.c.id)
            .where(_ENTRIES.c.kind == kind, _ENTRIES.c.removed_version.is_(None))
            .limit(1)
        ).first()
        is not None
    )


# Part of every token: bump it when a source function starts reading something new (and
# give the triggers of migration 1170 that table), so old tokens stop matching.
TOKEN_SCHEME = "t2"  # noqa: S105 - a format tag, not a secret


def source_token(session: Session, kind: ListKind, params: str = "") -> str:
    """The change token of a list's source: equal tokens mean no source row changed.

    Read it BEFORE reading the source: a write committed after this read moves the counter
    past it, one committed before is in the source read. `params` are the source
    function's arguments (excluded countries, provenance): they change the rows too.
    """
    # Columns, not the ORM object: a row already in the session's identity map would be
    # returned as it was first loaded, blind to a trigger's update since.
    query = select(ListSourceChanges.epoch, ListSourceChanges.urls, ListSourceChanges.hashes).where(
        ListSourceChanges.id == 1
    )
    row = session.execute(query).first()
    if row is None:
        # The row is gone (a truncated table): a fresh epoch, so no stored token matches.
        session.execute(
            insert(ListSourceChanges).values(id=1, epoch=secrets.token_hex(16), urls=0, hashes=0)
        )
        row = session.execute(query).one()
    epoch, urls, hashes = row
    counter = urls if kind is ListKind.URLS else hashes
    extra = hashlib.sha256(params.encode()).hexdigest()[:16]
    return f"{TOKEN_SCHEME}:{epoch}:{counter}:{extra}"


def publish_list(
    session: Session,
    kind: ListKind,
    desired: Source | Callable[[], Source],
    *,
    actor: str = "system",
    token: str | None = None,
) -> ListVersion:
    """Make `desired` the next version of a list; without any change, return the latest.

    With a `token` (from `source_token`, read before the source) equal to the one the
    latest version stored, nothing is read: `desired` may be a function that builds the
    source and is then never called. Otherwise an unchanged source is recognised by its
    digest (one read of the source, no query), and a changed one is diffed against the
    live entries as two sorted streams.
    """
    current = latest(session, kind)
    if token is not None and current is not None and current.source_token == token:
        return current
    rows = _normalised(desired() if callable(desired) else desired)
    first: str | None = None
    if current is not None and current.source_digest is not None:
        first = source_digest(kind, rows)
        if first == current.source_digest:
            _remember(session, current, first, token)
            return current
    number = (current.version if current else 0) + 1
    digest = _new_digest(kind)
    version = ListVersion(kind=kind, version=number, created_at=db.now(session))
    if current is None or not _has_active(session, kind):
        session.add(version)
        session.flush()
        count = _bulk_first(session, kind, number, _batches(rows, digest))
        added, removed = count, 0
    else:
        batches = _batches(rows, digest)
        count, added, removed = _merge(session, kind, number, current.version, batches)
        if first is not None and digest.hexdigest() != first:
            raise BlocklistConflictError("the list source changed while publishing; try again")
        if not added and not removed:  # same entries (a digest from before 1120): remember it
            _remember(session, current, digest.hexdigest(), token)
            return current
        session.add(version)
    version.entry_count, version.added_count, version.removed_count = count, added, removed
    version.source_digest = digest.hexdigest()
    version.source_token = token
    session.flush()
    record(
        session,
        actor,
        AuditAction.LIST_PUBLISH,
        f"list:{kind}:v{number}",
        {"entries": count, "added": added, "removed": removed},
    )
    return version


def _remember(session: Session, current: ListVersion, digest: str, token: str | None) -> None:
    """The latest version is still current: keep its digest and, if given, the new token."""
    current.source_digest = digest
    if token is not None:
        current.source_token = token
    session.flush()


def excluded_countries(settings: Settings) -> list[str]:
    """Countries whose URLs stay off the URL list (own countries, unless configured)."""
    return [] if settings.list_include_own_country else list(settings.own_countries)


def publish_lists(
    session: Session,
    *,
    kinds: Iterable[ListKind] = (ListKind.URLS, ListKind.HASHES),
    exclude_countries: Iterable[str] = (),
    actor: str = "system",
    provenance: str = "",
) -> dict[ListKind, ListVersion]:
    """Rebuild the lists from their sources (call on a schedule or on demand).

    exclude_countries: URLs hosted there stay off the URL list (normally own_countries).
    """
    out: dict[ListKind, ListVersion] = {}
    excluded = sorted({c.upper() for c in exclude_countries})
    for kind in kinds:
        desired: Callable[[], Source]
        if kind is ListKind.URLS:
            params = ",".join(excluded)
            desired = lambda: url_list_source(session, excluded)  # noqa: E731
        else:
            params = provenance[:100]
            desired = lambda: hash_list_source(session, provenance)  # noqa: E731
        # The token first: see source_token.
        token = source_token(session, kind, params)
        out[kind] = publish_list(session, kind, desired, actor=actor, token=token)
    return out


def _rows(session: Session, *where: Any) -> Iterator[Row]:
    """Stream entries sorted by key through Core (no ORM objects), in batches."""
    c = _ENTRIES.c
    # The option goes on the statement: on the connection it would stick to later writes.
    stmt = (
        select(c.key, c.url, c.md5, c.sha1, c.pdq, c.classification, c.provenance, c.vpdq)
        .where(*where)
        .order_by(c.key)
    )
    result = session.connection().execute(stmt.execution_options(yield_per=50000))
    for r in result:
        yield (r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7])


def snapshot_rows(session: Session, kind: ListKind, version: int) -> Iterator[Row]:
    """Every entry of one version, sorted by key."""
    return _rows(
        session,
        ListEntry.kind == kind,
        ListEntry.added_version <= version,
        or_(ListEntry.removed_version.is_(None), ListEntry.removed_version > version),
    )


def delta_rows(
    session: Session, kind: ListKind, since: int, version: int
) -> tuple[Iterator[Row], Iterator[Row]]:
    """Entries added and removed between version `since` and `version` (since < version)."""
    added = _rows(
        session,
        ListEntry.kind == kind,
        ListEntry.added_version > since,
        ListEntry.added_version <= version,
        or_(ListEntry.removed_version.is_(None), ListEntry.removed_version > version),
    )
    removed = _rows(
        session,
        ListEntry.kind == kind,
        ListEntry.added_version <= since,
        and_(ListEntry.removed_version > since, ListEntry.removed_version <= version),
    )
    return added, removed


@dataclass(frozen=True)
class SignedFile:
    """A rendered list file (on disk, or in memory when no cache was given), its detached
    signature and the signing key's id."""

    name: str
    signature: str
    key_id: str
    path: Path | None = None
    content: bytes | None = None

    @property
    def data(self) -> bytes:
        """The file's bytes (reads the file: meant for small files and tests)."""
        if self.content is not None:
            return self.content
        assert self.path is not None  # noqa: S101 - one of the two is always set
        return self.path.read_bytes()

    @property
    def size(self) -> int:
        """The file's length in bytes."""
        if self.content is not None:
            return len(self.content)
        assert self.path is not None  # noqa: S101
        return self.path.stat().st_size


def _check_format(fmt: str, allowed: tuple[str, ...] = FORMATS) -> None:
    if fmt not in allowed:
        raise BlocklistNotFoundError(f"format must be one of {list(allowed)}")


def _cached(
    cache_dir: Path | None, name: str, key: SigningKey, write: Callable[[IO[bytes]], None]
) -> SignedFile:
    """Render once to a file, sign it in chunks; later calls reuse both (same version, same
    bytes). Without a cache directory the file is rendered in a temporary one and returned
    in memory."""
    if cache_dir is None:
        with tempfile.TemporaryDirectory(prefix="openhotline-list-") as scratch:
            made = _cached(Path(scratch), name, key, write)
            return SignedFile(name, made.signature, made.key_id, content=made.data)
    path = cache_dir / key.key_id / name
    sig_path = path.with_name(name + ".sig")
    if path.exists() and sig_path.exists():
        return SignedFile(name, sig_path.read_text(), key.key_id, path=path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{name}.{secrets.token_hex(4)}")
    try:
        with tmp.open("wb", buffering=1 << 20) as fh:
            write(fh)
        signature = key.sign_file(tmp)
        tmp_sig = sig_path.with_name(f".{sig_path.name}.{secrets.token_hex(4)}")
        tmp_sig.write_text(signature)
        # The file first: a reader sees the pair only once the signature lands too.
        tmp.replace(path)
        tmp_sig.replace(sig_path)
    finally:
        tmp.unlink(missing_ok=True)
    return SignedFile(name, signature, key.key_id, path=path)


def snapshot_file(
    session: Session,
    kind: ListKind,
    version: int,
    fmt: str,
    key: SigningKey,
    cache_dir: Path | None,
) -> SignedFile:
    """The signed snapshot of one version."""
    _check_format(fmt)
    if fmt == "hma" and kind != ListKind.HASHES:
        raise BlocklistNotFoundError("only the hash list has an HMA form")
    row = get_version(session, kind, version)
    name = f"{kind}-v{version}.{fmt}"
    return _cached(
        cache_dir,
        name,
        key,
        lambda out: write_snapshot(
            out,
            kind.value,
            version,
            row.created_at,
            row.entry_count,
            snapshot_rows(session, kind, version),
            fmt,
        ),
    )


def delta_file(
    session: Session,
    kind: ListKind,
    since: int,
    version: int,
    fmt: str,
    key: SigningKey,
    cache_dir: Path | None,
) -> SignedFile:
    """The signed delta from version `since` (0 = empty list) to `version`."""
    _check_format(fmt, DELTA_FORMATS)
    if since < 0 or since >= version:
        raise BlocklistInvalidError("a delta needs 0 <= since < version")
    row = get_version(session, kind, version)
    if since > 0:
        get_version(session, kind, since)
    name = f"{kind}-v{since}-v{version}.{fmt}"

    def write(out: IO[bytes]) -> None:
        added, removed = delta_rows(session, kind, since, version)
        write_delta(out, kind.value, since, version, row.created_at, added, removed, fmt)

    return _cached(cache_dir, name, key, write)


def listed_case(session: Session, url: str) -> Case | None:
    """The case of a URL if that URL is on the URL list now, else None."""
    try:
        canon = canonicalize(url)
    except InvalidURLError as exc:
        raise BlocklistInvalidError(f"invalid URL: {exc}") from exc
    key = url_hash(canon.url)
    listed = session.execute(
        select(ListEntry.id).where(
            ListEntry.kind == ListKind.URLS,
            ListEntry.key == key,
            ListEntry.removed_version.is_(None),
        )
    ).first()
    if listed is None:
        return None
    return session.execute(select(Case).where(Case.url_hash == key)).scalar_one_or_none()


def file_appeal(
    session: Session,
    url: str,
    reason: str,
    contact_email: str | None,
    *,
    language: str | None = None,
) -> Appeal:
    """Record a site owner's appeal; every well-formed appeal is accepted.

    Whether the URL is listed is never told to the appellant (the list is confidential):
    an appeal against an unlisted URL is recorded without a case and answered the same way.
    """
    reason = reason.strip()
    if not reason:
        raise BlocklistInvalidError("please say why the URL should not be listed")
    if len(reason) > 5000:
        raise BlocklistInvalidError("the reason is limited to 5000 characters")
    if contact_email and ("@" not in contact_email or len(contact_email) > 320):
        raise BlocklistInvalidError("the e-mail address is not valid")
    try:
        canon = canonicalize(url)
    except InvalidURLError as exc:
        raise BlocklistInvalidError(f"invalid URL: {exc}") from exc
    case = listed_case(session, canon.url)
    appeal = Appeal(
        reference="AP-" + secrets.token_hex(5).upper(),
        url=canon.url,
        url_hash=url_hash(canon.url),
        case_id=case.id if case is not None else None,
        reason=reason,
        contact_email=contact_email or None,
        language=i18n.normalise(language) if language and contact_email else None,
    )
    session.add(appeal)
    session.flush()
    record(
        session,
        None,
        AuditAction.APPEAL_FILE,
        f"appeal:{appeal.id}",
        {"case_id": appeal.case_id},
    )
    return appeal


def pending_appeals(session: Session) -> list[Appeal]:
    """Appeals waiting for a decision, oldest first."""
    return list(
        session.execute(
            select(Appeal).where(Appeal.status == AppealStatus.PENDING).order_by(Appeal.id)
        ).scalars()
    )


def decide_appeal(
    session: Session, appeal_id: int, uphold: bool, note: str, *, actor: str
) -> Appeal:
    """Decide an appeal; upheld closes the case so its URL leaves the next list version.

    A reply job is queued in the same transaction when the appellant left an address.
    """
    appeal = session.get(Appeal, appeal_id)
    if appeal is None:
        raise BlocklistNotFoundError(f"no appeal {appeal_id}")
    if appeal.status != AppealStatus.PENDING:
        raise BlocklistConflictError("this appeal has already been decided")
    if not note.strip():
        raise BlocklistInvalidError("a decision needs a note saying why")
    appeal.status = AppealStatus.UPHELD if uphold else AppealStatus.REJECTED
    appeal.decided_at = db.now(session)
    appeal.decided_by = actor
    appeal.decision_note = note.strip()[:5000]
    if uphold and appeal.case_id is not None:
        case = session.get(Case, appeal.case_id)
        if case is not None and LISTABLE(case):
            move(
                session,
                case,
                CaseStatus.CLOSED,
                actor=actor,
                reason=f"appeal {appeal.reference} upheld",
            )
    session.flush()
    record(
        session,
        actor,
        AuditAction.APPEAL_DECIDE,
        f"appeal:{appeal.id}",
        {"outcome": appeal.status, "case_id": appeal.case_id, "note": appeal.decision_note},
    )
    if appeal.contact_email:
        jobs.enqueue(
            session, APPEAL_REPLY_JOB, {"appeal_id": appeal.id}, dedupe_key=f"appeal:{appeal.id}"
        )
    return appeal


APPEAL_REPLY_JOB = "appeals.reply"


def recent_decisions(session: Session, limit: int = 50) -> list[Appeal]:
    """The latest decided appeals, newest first (the console shows whether a reply went)."""
    return list(
        session.execute(
            select(Appeal)
            .where(Appeal.status != AppealStatus.PENDING)
            .order_by(Appeal.decided_at.desc(), Appeal.id.desc())
            .limit(limit)
        ).scalars()
    )


def appeal_reply(session: Session, appeal_id: int, sender: str) -> EmailMessage | None:
    """The decision e-mail for an appeal, or None if there is nothing (more) to send."""
    appeal = session.get(Appeal, appeal_id)
    if appeal is None or appeal.status == AppealStatus.PENDING or not appeal.contact_email:
        return None
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = appeal.contact_email
    # Written in the language of the form the appellant used.
    with i18n.use_language(appeal.language or i18n.DEFAULT_LANGUAGE):
        msg["Subject"] = _("Your request %(reference)s") % {"reference": appeal.reference}
        outcome = (
            _("Your request was accepted: the address will not be on the next version of the list.")
            if appeal.status == AppealStatus.UPHELD
            else _("Your request was reviewed and not accepted.")
        )
        intro = _("We reviewed your request %(reference)s about") % {"reference": appeal.reference}
    # Same wording whether or not the URL was ever listed: the reply is no oracle either.
    msg.set_content(f"{intro}\n{appeal.url}\n\n{outcome}\n\n{appeal.decision_note or ''}\n")
    return msg


def mark_appeal_replied(session: Session, appeal_id: int) -> None:
    """Note that the decision was sent and erase the appellant's address; audited."""
    appeal = session.get(Appeal, appeal_id)
    if appeal is None:
        raise BlocklistNotFoundError(f"no appeal {appeal_id}")
    appeal.replied_at = db.now(session)
    appeal.contact_email = None
    session.flush()
    record(session, "mailer", AuditAction.APPEAL_REPLY, f"appeal:{appeal.id}", {})
