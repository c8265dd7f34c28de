"""List subscriptions: a bank fed by another openhotline's signed hash list.

The exchange is the publisher's own list API (``/api/v1/lists/hashes``): ``GET`` the list
to learn its latest version and signing key, then fetch the signed delta from the version
this bank last applied (or the whole snapshot the first time, or when the delta is gone),
verify the detached Ed25519 signature against the key pinned at subscription time, check
that the file says what was asked for (list, versions), and apply its additions and
removals to the bank in the caller's transaction. Nothing is applied from a file that
fails any check; the subscription records the error instead.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from openhotline import db
from openhotline.audit.models import AuditAction
from openhotline.audit.service import record
from openhotline.errors import DomainError, InvalidError, NotFoundError, UnavailableError
from openhotline.matching import video
from openhotline.matching.formats import Row, check_not_degenerate, normalise_hash
from openhotline.matching.models import (
    BankEntry,
    BankExchangeFeed,
    BankSubscription,
    HashBank,
    HashType,
)
from openhotline.matching.policy import BankSource
from openhotline.matching.service import (
    BankNotFoundError,
    create_bank,
    get_bank,
    import_rows,
    live_entries,
    reclassify_rows,
)
from openhotline.media.video import VideoFrame, parse_vpdq, vpdq_digest
from openhotline.signing.service import SignatureError, parse_public_key, verify

# Columns of a published hash-list row, in the order they become bank entries.
HASH_COLUMNS = (HashType.SHA256, HashType.MD5, HashType.SHA1, HashType.PDQ)
MAX_LIST_BYTES = 2 * 1024 * 1024 * 1024  # a 5M-hash snapshot is about 1.2 GB of JSON


class SubscriptionError(DomainError):
    """A subscription or sync problem; the message is safe to show an operator."""


class SubscriptionInvalidError(SubscriptionError, InvalidError):
    """Bad subscription settings or a list file that fails its checks."""


class SubscriptionNotFoundError(SubscriptionError, NotFoundError):
    """No such subscription."""


class PublisherUnavailableError(SubscriptionError, UnavailableError):
    """The publisher did not answer, or answered with an error."""


class MissingFileError(PublisherUnavailableError):
    """The publisher has no such file (a delta it no longer keeps, for instance)."""


@dataclass(frozen=True)
class Fetched:
    """One downloaded file and the headers that came with it."""

    data: bytes
    headers: dict[str, str]


class ListFetcher(Protocol):
    """Downloads list files from a publisher (HTTP in production, wired in bootstrap)."""

    def get(self, url: str, api_key: str) -> Fetched:
        """GET ``url`` with the partner key; MissingFileError on 404/410."""
        ...


class HttpListFetcher:
    """ListFetcher over httpx: bounded size, timeouts, no redirects to elsewhere."""

    def __init__(self, timeout: float = 60.0, max_bytes: int = MAX_LIST_BYTES) -> None:
        self.timeout = timeout
        self.max_bytes = max_bytes

    def get(self, url: str, api_key: str) -> Fetched:
        """Download one file (streamed, refused past max_bytes)."""
        import httpx

        headers = {"Authorization": f"Bearer {api_key}", "Accept": "application/json"}
        try:
            with (
                httpx.Client(timeout=self.timeout, follow_redirects=False) as client,
                client.stream("GET", url, headers=headers) as response,
            ):
                if response.status_code in (404, 410):
                    raise MissingFileError(f"{url}: the publisher has no such file")
                if response.status_code != 200:
                    raise PublisherUnavailableError(f"{url}: HTTP {response.status_code}")
                chunks, size = [], 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise PublisherUnavailableError(
                            f"{url}: larger than {self.max_bytes} bytes"
                        )
                    chunks.append(chunk)
                return Fetched(b"".join(chunks), dict(response.headers))
        except httpx.HTTPError as exc:
            raise PublisherUnavailableError(f"{url}: {type(exc).__name__}: {exc}") from exc


@dataclass
class SyncResult:
    """What one sync did."""

    bank: str
    mode: str  # "unchanged", "delta" or "snapshot"
    from_version: int
    version: int
    added: int = 0
    removed: int = 0
    reclassified: int = 0  # live entries whose classification the publisher changed
    notes: list[str] = field(default_factory=list)


def list_url(url: str) -> str:
    """A publisher's hash-list URL, checked (InvalidError names what is wrong)."""
    return _list_url(url)


def _list_url(url: str) -> str:
    url = url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise SubscriptionInvalidError("the list URL must start with http:// or https://")
    if not url.endswith("/lists/hashes"):
        raise SubscriptionInvalidError(
            "the list URL is the publisher's hash list, e.g. https://hotline.example/api/v1/lists/hashes"
        )
    return url


def read_api_key(path: Path) -> str:
    """The partner API key kept in a file (one line); clear errors for a bad file."""
    try:
        key = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise SubscriptionInvalidError(f"cannot read the API key file {path}: {exc}") from exc
    if not key or "\n" in key:
        raise SubscriptionInvalidError(f"{path}: expected one line holding the API key")
    return key


def subscribe(
    session: Session,
    bank_name: str,
    url: str,
    api_key_file: Path,
    verify_key: str,
    actor: str,
    interval_minutes: int = 60,
) -> BankSubscription:
    """Create (or re-point) the subscription that feeds ``bank_name`` from a publisher."""
    url = _list_url(url)
    read_api_key(api_key_file)  # fail now, not at the first scheduled sync
    try:
        parse_public_key(verify_key.strip())
    except SignatureError as exc:
        raise SubscriptionInvalidError(f"verify key: {exc}") from exc
    if not 5 <= interval_minutes <= 7 * 24 * 60:
        raise SubscriptionInvalidError("the sync interval must be 5 minutes to 7 days")
    try:
        bank = get_bank(session, bank_name)
    except BankNotFoundError:
        bank = create_bank(
            session, bank_name, description=f"subscribed to {url}", source=BankSource.PARTNER
        )
    sub = session.scalar(select(BankSubscription).where(BankSubscription.bank_id == bank.id))
    if sub is None:
        sub = BankSubscription(bank_id=bank.id, version=0, created_at=db.now(session))
        session.add(sub)
    elif sub.list_url != url or sub.verify_key != verify_key.strip():
        sub.version = 0  # another publisher or key: start again from its snapshot
    sub.list_url = url
    sub.api_key_file = str(api_key_file)
    sub.verify_key = verify_key.strip()
    sub.interval_minutes = interval_minutes
    session.flush()
    record(
        session,
        actor,
        AuditAction.BANK_SUBSCRIBE,
        f"bank:{bank.name}",
        {"url": url, "interval_minutes": interval_minutes},
    )
    return sub


# A bank is fed either by a signed openhotline list or by a threatexchange exchange; both
# rows hang off the bank and share the schedule columns.
Feed = TypeVar("Feed", BankSubscription, BankExchangeFeed)


def fed_banks(session: Session, model: type[Feed]) -> list[tuple[Feed, str]]:
    """Every subscription (or exchange feed, by model) with its bank's name."""
    rows = session.execute(
        select(model, HashBank.name)
        .join(HashBank, HashBank.id == model.bank_id)
        .order_by(HashBank.name)
    ).all()
    return [(row, name) for row, name in rows]


def feed_of(session: Session, model: type[Feed], bank_name: str) -> Feed:
    """The subscription (or exchange feed, by model) of one bank."""
    bank = get_bank(session, bank_name)
    row = session.scalar(select(model).where(model.bank_id == bank.id))
    if row is None:
        what = "has no subscription" if model is BankSubscription else "is not fed by an exchange"
        raise SubscriptionNotFoundError(f"bank {bank_name!r} {what}")
    return row


def subscriptions(session: Session) -> list[tuple[BankSubscription, str]]:
    """Every subscription with its bank's name."""
    return fed_banks(session, BankSubscription)


def subscription_for(session: Session, bank_name: str) -> BankSubscription:
    """The subscription of one bank."""
    return feed_of(session, BankSubscription, bank_name)


def due(session: Session, model: type[Feed]) -> list[str]:
    """Names of the banks whose subscription (or exchange feed) is due for a sync."""
    now = db.now(session)
    out = []
    for row, name in fed_banks(session, model):
        last = row.last_attempt_at
        if last is None or (now - last).total_seconds() >= row.interval_minutes * 60:
            out.append(name)
    return out


def fetch_signed(fetcher: ListFetcher, url: str, api_key: str, pinned: str) -> dict[str, Any]:
    """Download a file and its .sig, verify against the pinned key, parse the JSON."""
    body = fetcher.get(url, api_key)
    signature = fetcher.get(url + ".sig", api_key).data.decode("ascii", "replace").strip()
    try:
        verify(body.data, signature, pinned)
    except SignatureError as exc:
        raise SubscriptionInvalidError(f"{url}: {exc} (pinned key)") from exc
    try:
        parsed = json.loads(body.data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SubscriptionInvalidError(f"{url}: signed but not JSON: {exc}") from exc
    if not isinstance(parsed, dict) or parsed.get("list") != "hashes":
        raise SubscriptionInvalidError(f"{url}: not a hash list file")
    return parsed


def entry_hashes(entry: Any, where: str) -> list[tuple[HashType, str]]:
    """The (type, value) pairs of one published row; InvalidError names what is wrong."""
    if not isinstance(entry, dict):
        raise SubscriptionInvalidError(f"{where}: an entry is not an object")
    pairs = []
    for hash_type in HASH_COLUMNS:
        value = entry.get(hash_type.value)
        if value in (None, ""):
            continue
        if not isinstance(value, str):
            raise SubscriptionInvalidError(f"{where}: {hash_type.value} is not a string")
        try:
            pairs.append(
                (hash_type, check_not_degenerate(hash_type, normalise_hash(hash_type, value)))
            )
        except ValueError as exc:
            raise SubscriptionInvalidError(f"{where}: {exc}") from exc
    if not pairs:
        raise SubscriptionInvalidError(f"{where}: an entry holds no hash")
    return pairs


def _text(entry: dict[str, Any], key: str, limit: int) -> str:
    value = entry.get(key)
    return value[:limit] if isinstance(value, str) else ""


def _rows(entries: list[Any], where: str, added_by: str) -> list[Row]:
    """Check every entry first: a file with one bad row is refused whole."""
    rows: list[Row] = []
    for n, entry in enumerate(entries, start=1):
        for hash_type, value in entry_hashes(entry, f"{where} entry {n}"):
            rows.append(
                Row(
                    line=n,
                    hash_type=hash_type,
                    hash_value=value,
                    source=_text(entry, "provenance", 200),
                    classification=_text(entry, "classification", 100),
                    added_by=added_by,
                )
            )
    return rows


@dataclass(frozen=True)
class VideoRow:
    """A listed video's vPDQ frames, as they become a vpdq entry of the bank."""

    frames: list[VideoFrame]
    row: Row  # hash_type vpdq, hash_value the frames' digest (the entry's identity)


def video_frames(signal: str) -> list[VideoFrame]:
    """A listed video's frames from its VPDQ signal string; ValueError if a bank can't hold it."""
    frames = parse_vpdq(signal)
    if len(frames) > video.MAX_FRAMES or not video.usable(frames):
        raise ValueError(
            f"a video needs 1-{video.MAX_FRAMES} frame hashes, some of quality "
            f">= {video.MIN_QUALITY}"
        )
    return frames


def _videos(entries: list[Any], where: str, added_by: str) -> list[VideoRow]:
    """The vPDQ frame lists of a file's entries (videos); a bad one refuses the file."""
    out: list[VideoRow] = []
    for n, entry in enumerate(entries, start=1):
        value = entry.get("vpdq") if isinstance(entry, dict) else None
        if value is None:
            continue
        try:
            if not isinstance(value, list):
                raise ValueError("expected a list of frame hashes")
            frames = video_frames(json.dumps(value))
        except ValueError as exc:
            raise SubscriptionInvalidError(f"{where} entry {n}: vpdq: {exc}") from None
        row = Row(
            line=n,
            hash_type=HashType.VPDQ,
            hash_value=vpdq_digest(frames),
            source=_text(entry, "provenance", 200),
            classification=_text(entry, "classification", 100),
            added_by=added_by,
        )
        out.append(VideoRow(frames, row))
    return out


def add_videos(session: Session, bank: HashBank, videos: Iterable[VideoRow]) -> int:
    """Add listed videos as vpdq entries with their frames; returns how many are new."""
    added = 0
    for v in videos:
        _, created = video.add_video(
            session, bank, v.frames, v.row.source, v.row.classification, v.row.added_by
        )
        added += int(created)
    return added


def _remove(
    session: Session, bank: HashBank, pairs: Iterable[tuple[HashType, str]], by: str
) -> int:
    now = db.now(session)
    removed = 0
    by_type: dict[HashType, list[str]] = {}
    for hash_type, value in pairs:
        by_type.setdefault(hash_type, []).append(value)
    # A video's frames leave the index with its entry.
    for digest in by_type.pop(HashType.VPDQ, []):
        removed += video.remove_video(session, bank, digest, by)
    for hash_type, values in by_type.items():
        for chunk in _chunks(values, 500):
            result = session.execute(
                update(BankEntry)
                .where(
                    BankEntry.bank_id == bank.id,
                    BankEntry.hash_type == hash_type.value,
                    BankEntry.hash_value.in_(chunk),
                    BankEntry.removed_at.is_(None),
                )
                .values(removed_at=now, removed_by=by[:100])
                .execution_options(synchronize_session=False)
            )
            removed += int(getattr(result, "rowcount", 0) or 0)
    if removed:
        # A new bank version tells every matcher process to reload the bank's index.
        session.execute(
            update(HashBank).where(HashBank.id == bank.id).values(version=HashBank.version + 1)
        )
    return removed


def remove_pairs(
    session: Session, bank: HashBank, pairs: Iterable[tuple[HashType, str]], by: str
) -> int:
    """Mark these live entries of a bank removed (a trace stays); returns how many."""
    return _remove(session, bank, pairs, by)


def live_pairs(session: Session, bank: HashBank) -> set[tuple[HashType, str]]:
    """The (type, value) of every live entry of a bank."""
    return _live_pairs(session, bank)


def _chunks(values: list[str], size: int) -> Iterator[list[str]]:
    for i in range(0, len(values), size):
        yield values[i : i + size]


def _live_pairs(session: Session, bank: HashBank) -> set[tuple[HashType, str]]:
    rows = session.execute(
        select(BankEntry.hash_type, BankEntry.hash_value).where(
            BankEntry.bank_id == bank.id, BankEntry.removed_at.is_(None)
        )
    ).all()
    return {(HashType(t), v) for t, v in rows}


def sync(session: Session, bank_name: str, fetcher: ListFetcher, actor: str) -> SyncResult:
    """Bring one subscribed bank up to the publisher's latest version (in the caller's tx).

    A failure is recorded on the subscription and raised; the caller commits either way so
    the error shows on `bank subscriptions` and in the console.
    """
    sub = subscription_for(session, bank_name)
    bank = get_bank(session, bank_name)
    sub.last_attempt_at = db.now(session)
    try:
        result = _sync(session, sub, bank, fetcher, actor)
    except SubscriptionError as exc:
        sub.last_error = str(exc)[:1000]
        session.flush()
        raise
    sub.last_error = ""
    sub.last_success_at = db.now(session)
    bank.last_synced_at = sub.last_success_at
    session.flush()
    if result.mode != "unchanged":
        record(
            session,
            actor,
            AuditAction.BANK_SYNC,
            f"bank:{bank.name}",
            {
                "mode": result.mode,
                "from_version": result.from_version,
                "version": result.version,
                "added": result.added,
                "removed": result.removed,
                "reclassified": result.reclassified,
            },
        )
    return result


def latest_version(fetcher: ListFetcher, list_url: str, api_key: str, pinned: str) -> int:
    """The publisher's latest list version; refuses a publisher now signing with another key."""
    info_raw = fetcher.get(list_url, api_key).data
    try:
        info = json.loads(info_raw)
        latest = int(info["version"])
        published_key = str(info.get("public_key", ""))
    except (ValueError, KeyError, TypeError) as exc:
        raise PublisherUnavailableError(f"{list_url}: not a list description") from exc
    if published_key and published_key != pinned:
        # The publisher now signs with another key: never follow it silently.
        raise SubscriptionInvalidError(
            "the publisher's signing key differs from the pinned one; check with them and "
            "subscribe again with the new key"
        )
    return latest


def _sync(
    session: Session, sub: BankSubscription, bank: HashBank, fetcher: ListFetcher, actor: str
) -> SyncResult:
    api_key = read_api_key(Path(sub.api_key_file))
    latest = latest_version(fetcher, sub.list_url, api_key, sub.verify_key)
    start = sub.version
    result = SyncResult(bank.name, "unchanged", start, latest)
    if latest == start:
        return result
    if latest < start:
        # The publisher went back (restored from a backup): resynchronise from its snapshot.
        result.notes.append(f"publisher version {latest} is older than ours ({start})")
        start = 0
    who = f"subscription:{sub.id}"
    if start > 0:
        try:
            delta = fetch_signed(
                fetcher, f"{sub.list_url}/delta/{start}-{latest}.json", api_key, sub.verify_key
            )
        except MissingFileError:
            result.notes.append(f"delta {start}-{latest} missing: resynchronised from snapshot")
        else:
            if delta.get("from_version") != start or delta.get("version") != latest:
                raise SubscriptionInvalidError("the delta is not the one asked for")
            added = _rows(_list(delta, "added"), "delta added", who)
            removed = _rows(_list(delta, "removed"), "delta removed", who)
            added_videos = _videos(_list(delta, "added"), "delta added", who)
            removed += [v.row for v in _videos(_list(delta, "removed"), "delta removed", who)]
            result.removed = _remove(
                session, bank, ((r.hash_type, r.hash_value) for r in removed), who
            )
            result.added = import_rows(session, bank, added, added_by=who).added
            result.added += add_videos(session, bank, added_videos)
            result.reclassified = reclassify_rows(
                session, bank, [*added, *(v.row for v in added_videos)]
            )
            result.mode = "delta"
            sub.version = latest
            return result
    snap = fetch_signed(fetcher, f"{sub.list_url}/snapshot/{latest}.json", api_key, sub.verify_key)
    if snap.get("version") != latest:
        raise SubscriptionInvalidError("the snapshot is not the version asked for")
    rows = _rows(_list(snap, "entries"), "snapshot", who)
    videos = _videos(_list(snap, "entries"), "snapshot", who)
    wanted = {(r.hash_type, r.hash_value) for r in [*rows, *(v.row for v in videos)]}
    live = live_entries(session, bank)  # read once: the removals and the regrades both use it
    gone = {(HashType(t), v) for t, v in live} - wanted
    result.removed = _remove(session, bank, gone, who)
    result.added = import_rows(session, bank, rows, added_by=who).added
    result.added += add_videos(session, bank, videos)
    result.reclassified = reclassify_rows(
        session, bank, [*rows, *(v.row for v in videos)], live=live
    )
    result.mode = "snapshot"
    sub.version = latest
    return result


def entries_of(parsed: dict[str, Any], key: str) -> list[Any]:
    """A signed file's list under key ("entries", "added", "removed")."""
    return _list(parsed, key)


def _list(parsed: dict[str, Any], key: str) -> list[Any]:
    value = parsed.get(key)
    if not isinstance(value, list):
        raise SubscriptionInvalidError(f"the file has no {key!r} list")
    return value
