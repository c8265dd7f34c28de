"""A bank fed by another exchange through python-threatexchange's SignalExchangeAPI.

The other direction of matching/exchange.py (which shows openhotline's list to
threatexchange): here an openhotline bank subscribes to any SignalExchangeAPI — the
library's own local-file exchange and sample exchange (both offline), openhotline's
signed list through the adapter of exchange.py, or another API class named as
``module:Class`` (ThreatExchange, NCMEC, StopNCII, ... where their credentials are set up
as threatexchange expects). A sync asks the API for what changed since the stored
checkpoint (`fetch_iter`), applies each batch's additions and removals (an update of
``None`` is a removal) to the bank, stores the new checkpoint and audits the outcome.

An API without checkpoints returns the whole state every time (its checkpoint is stale,
or holds no field that could say where it stopped): then the bank becomes exactly what
was fetched, and hashes it no longer holds are removed.

Needs the `exchange` extra; only the CLI imports this module, inside its commands.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from threatexchange.exchanges import fetch_state as state
from threatexchange.exchanges.impl.file_api import LocalFileSignalExchangeAPI
from threatexchange.exchanges.impl.static_sample import StaticSampleSignalExchangeAPI
from threatexchange.exchanges.signal_exchange_api import SignalExchangeAPI
from threatexchange.signal_type.md5 import VideoMD5Signal
from threatexchange.signal_type.pdq.signal import PdqSignal
from threatexchange.signal_type.sha256 import VideoSHA256Signal
from threatexchange.signal_type.signal_base import SignalType

from openhotline import db
from openhotline.audit.models import AuditAction
from openhotline.audit.service import record
from openhotline.matching.exchange import OpenhotlineCollabConfig, OpenhotlineSignalExchangeAPI
from openhotline.matching.formats import Row, check_not_degenerate, normalise_hash
from openhotline.matching.models import BankExchangeFeed, HashBank, HashType
from openhotline.matching.policy import BankSource
from openhotline.matching.service import (
    BankNotFoundError,
    create_bank,
    get_bank,
    import_rows,
    reclassify_rows,
)
from openhotline.matching.subscriptions import (
    ListFetcher,
    PublisherUnavailableError,
    SubscriptionError,
    SubscriptionInvalidError,
    VideoRow,
    add_videos,
    fed_banks,
    feed_of,
    live_pairs,
    read_api_key,
    remove_pairs,
    video_frames,
)
from openhotline.media.video import VideoFrame, vpdq_digest

AnyAPI = SignalExchangeAPI[Any, Any, Any, Any, Any]

# Exchanges known by name; any other SignalExchangeAPI class can be named "module:Class".
EXCHANGES: dict[str, type[AnyAPI]] = {
    "local_file": LocalFileSignalExchangeAPI,
    "sample": StaticSampleSignalExchangeAPI,
    "openhotline": OpenhotlineSignalExchangeAPI,
}

# threatexchange signal types a bank can hold, by threatexchange's name. "video_md5" and
# "video_sha256" are byte hashes of any file, whatever their names say.
SIGNAL_TYPES: dict[str, tuple[type[SignalType], HashType]] = {
    PdqSignal.get_name(): (PdqSignal, HashType.PDQ),
    VideoMD5Signal.get_name(): (VideoMD5Signal, HashType.MD5),
    VideoSHA256Signal.get_name(): (VideoSHA256Signal, HashType.SHA256),
}
try:  # threatexchange's vPDQ extension needs the vpdq package (the `video` extra)
    from threatexchange.extensions.vpdq.vpdq import VPDQSignal
except ImportError:  # pragma: no cover - depends on the installed extras
    pass
else:
    SIGNAL_TYPES[VPDQSignal.get_name()] = (VPDQSignal, HashType.VPDQ)
_RESERVED = ("name", "api", "enabled")


@dataclass
class FeedResult:
    """What one sync of an exchange feed did."""

    bank: str
    mode: str  # "full" (the bank became what was fetched) or "incremental"
    batches: int = 0
    added: int = 0
    removed: int = 0
    reclassified: int = 0  # live entries whose classification the exchange changed
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> count


def api_class(name: str) -> type[AnyAPI]:
    """The SignalExchangeAPI class called `name` (a known name or "module:Class")."""
    if name in EXCHANGES:
        return EXCHANGES[name]
    module, _, attr = name.partition(":")
    if not module or not attr:
        known = ", ".join(sorted(EXCHANGES))
        raise SubscriptionInvalidError(
            f"unknown exchange {name!r} (known: {known}, or module:Class)"
        )
    try:
        found = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise SubscriptionInvalidError(f"cannot load exchange {name!r}: {exc}") from exc
    if not (isinstance(found, type) and issubclass(found, SignalExchangeAPI)):
        raise SubscriptionInvalidError(f"{name!r} is not a SignalExchangeAPI class")
    return found


def _collab(api: type[AnyAPI], bank: str, api_name: str, settings: Mapping[str, str]) -> Any:
    """The API's collaboration config from the operator's settings; clear errors."""
    cls = api.get_config_cls()
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(settings) - (names - set(_RESERVED))
    if unknown:
        allowed = ", ".join(sorted(names - set(_RESERVED))) or "none"
        raise SubscriptionInvalidError(
            f"{api_name}: unknown setting(s) {', '.join(sorted(unknown))} (settings: {allowed})"
        )
    try:
        return cls(name=bank, api=api.get_name(), enabled=True, **settings)
    except TypeError as exc:
        raise SubscriptionInvalidError(f"{api_name}: {exc}") from exc


def subscribe(
    session: Session,
    bank_name: str,
    api_name: str,
    settings: Mapping[str, str],
    actor: str,
    interval_minutes: int = 60,
) -> BankExchangeFeed:
    """Feed ``bank_name`` (created as a partner bank if missing) from an exchange."""
    api = api_class(api_name)
    _collab(api, bank_name, api_name, settings)  # refuse bad settings now, not at sync time
    if not 5 <= interval_minutes <= 7 * 24 * 60:
        raise SubscriptionInvalidError("the sync interval must be 5 minutes to 7 days")
    try:
        bank = get_bank(session, bank_name)
    except BankNotFoundError:
        bank = create_bank(
            session, bank_name, description=f"fed by exchange {api_name}", source=BankSource.PARTNER
        )
    feed = session.scalar(select(BankExchangeFeed).where(BankExchangeFeed.bank_id == bank.id))
    collab = json.dumps(dict(sorted(settings.items())))
    if feed is None:
        feed = BankExchangeFeed(bank_id=bank.id, created_at=db.now(session), last_error="")
        session.add(feed)
    if feed.api != api_name or feed.collab != collab:
        feed.checkpoint = ""  # another exchange or collaboration: start from its full state
    feed.api, feed.collab, feed.interval_minutes = api_name, collab, interval_minutes
    session.flush()
    record(
        session,
        actor,
        AuditAction.BANK_SUBSCRIBE,
        f"bank:{bank.name}",
        {"exchange": api_name, "settings": sorted(settings), "interval_minutes": interval_minutes},
    )
    return feed


def feeds(session: Session) -> list[tuple[BankExchangeFeed, str]]:
    """Every exchange feed with its bank's name."""
    return fed_banks(session, BankExchangeFeed)


def feed_for(session: Session, bank_name: str) -> BankExchangeFeed:
    """The exchange feed of one bank."""
    return feed_of(session, BankExchangeFeed, bank_name)


def build_api(feed: BankExchangeFeed, bank_name: str, fetcher: ListFetcher) -> AnyAPI:
    """The API instance for a feed: openhotline's through the injected list fetcher (the
    process's one HTTP client), any other through its own `for_collab` constructor."""
    api = api_class(feed.api)
    collab = _collab(api, bank_name, feed.api, json.loads(feed.collab))
    if api is OpenhotlineSignalExchangeAPI:
        assert isinstance(collab, OpenhotlineCollabConfig)  # noqa: S101 - built just above
        return OpenhotlineSignalExchangeAPI(collab, read_api_key_of(collab), fetcher)
    return api.for_collab(collab)


def read_api_key_of(collab: OpenhotlineCollabConfig) -> str:
    """The partner key of an openhotline collaboration (kept in a file)."""
    return read_api_key(Path(collab.api_key_file))


def _load_checkpoint(api: AnyAPI, text: str) -> state.FetchCheckpointBase | None:
    if not text:
        return None
    cls = api.get_checkpoint_cls()
    try:
        return cls(**json.loads(text))  # type: ignore[no-any-return]
    except (TypeError, ValueError):
        return None  # a checkpoint this API version cannot read: fetch everything again


def _dump_checkpoint(checkpoint: state.FetchCheckpointBase) -> str:
    try:
        return json.dumps(dataclasses.asdict(checkpoint))
    except TypeError:
        return ""  # not JSON: the next sync fetches everything, which is always correct


def _whole_state_each_time(checkpoint: state.FetchCheckpointBase | None) -> bool:
    """True when a fetch from this checkpoint returns everything, not what changed."""
    return checkpoint is None or checkpoint.is_stale() or not dataclasses.fields(checkpoint)


def _classification(meta: state.FetchedSignalMetadata) -> str:
    own = getattr(meta, "classification", "")
    if isinstance(own, str) and own:
        return own[:100]
    tags = sorted(
        tag
        for opinion in meta.get_as_opinions()
        if opinion.category == state.SignalOpinionCategory.POSITIVE_CLASS
        for tag in opinion.tags
    )
    return ",".join(tags)[:100]


def sync(session: Session, bank_name: str, api: AnyAPI, actor: str) -> FeedResult:
    """Apply what the exchange changed since the feed's checkpoint (caller's transaction).

    A failure is kept on the feed and raised; the caller commits either way so the error
    shows in `bank subscriptions`.
    """
    feed = feed_for(session, bank_name)
    bank = get_bank(session, bank_name)
    feed.last_attempt_at = db.now(session)
    try:
        result = _sync(session, feed, bank, api)
    except SubscriptionError as exc:
        feed.last_error = str(exc)[:1000]
        session.flush()
        raise
    feed.last_error = ""
    feed.last_success_at = db.now(session)
    bank.last_synced_at = feed.last_success_at
    session.flush()
    if result.added or result.removed or result.reclassified:
        record(
            session,
            actor,
            AuditAction.BANK_SYNC,
            f"bank:{bank.name}",
            {
                "exchange": feed.api,
                "mode": result.mode,
                "batches": result.batches,
                "added": result.added,
                "removed": result.removed,
                "reclassified": result.reclassified,
                "skipped": result.skipped,
            },
        )
    return result


def _sync(session: Session, feed: BankExchangeFeed, bank: HashBank, api: AnyAPI) -> FeedResult:
    checkpoint = _load_checkpoint(api, feed.checkpoint)
    full = _whole_state_each_time(checkpoint)
    result = FeedResult(bank.name, "full" if full else "incremental")
    who = f"exchange:{feed.api}"[:100]
    seen: set[tuple[HashType, str]] = set()
    types = [signal_type for signal_type, _ in SIGNAL_TYPES.values()]
    try:
        # A third-party client: whatever it raises (an assert on a missing file, an HTTP
        # error of its own library) becomes a sync error kept on the feed, with nothing
        # applied from the batch that failed.
        for delta in api.fetch_iter(types, None if full else checkpoint):
            adds, videos, removes = _batch(delta.updates, who, result)
            result.removed += remove_pairs(session, bank, removes, who)
            result.added += import_rows(session, bank, adds, added_by=who).added
            result.added += add_videos(session, bank, videos)
            rows = [*adds, *(v.row for v in videos)]
            result.reclassified += reclassify_rows(session, bank, rows)
            seen.difference_update(removes)
            seen.update((r.hash_type, r.hash_value) for r in rows)
            checkpoint = delta.checkpoint
            result.batches += 1
    except SubscriptionError:
        raise
    except Exception as exc:  # see above
        raise PublisherUnavailableError(f"{feed.api}: {type(exc).__name__}: {exc}") from exc
    if full:
        result.removed += remove_pairs(session, bank, live_pairs(session, bank) - seen, who)
    if checkpoint is not None:
        feed.checkpoint = _dump_checkpoint(checkpoint)
    return result


def _batch(
    updates: Mapping[Any, Any], who: str, result: FeedResult
) -> tuple[list[Row], list[VideoRow], list[tuple[HashType, str]]]:
    """One batch as bank rows and videos to add, and (type, value) pairs to remove."""
    adds: dict[tuple[HashType, str], Row] = {}
    videos: dict[str, VideoRow] = {}
    removes: list[tuple[HashType, str]] = []
    for n, (key, meta) in enumerate(updates.items(), start=1):
        type_name, value = key if isinstance(key, tuple) and len(key) == 2 else ("", "")
        known = SIGNAL_TYPES.get(str(type_name))
        if known is None:
            reason = f"signal type {type_name!r} not held in banks"
            result.skipped[reason] = result.skipped.get(reason, 0) + 1
            continue
        hash_type = known[1]
        frames: list[VideoFrame] = []
        try:
            if hash_type is HashType.VPDQ:
                # A video is held by the digest of its frames (the entry's identity).
                frames = video_frames(str(value))
                value = vpdq_digest(frames)
            else:
                value = check_not_degenerate(hash_type, normalise_hash(hash_type, str(value)))
        except ValueError as exc:
            reason = f"bad {type_name}: {str(exc)[:80]}"
            result.skipped[reason] = result.skipped.get(reason, 0) + 1
            continue
        if meta is None:
            removes.append((hash_type, value))
            adds.pop((hash_type, value), None)
            videos.pop(value, None)
            continue
        row = Row(
            line=n,
            hash_type=hash_type,
            hash_value=value,
            source=who,
            classification=_classification(meta),
            added_by=who,
        )
        if frames:
            videos[value] = VideoRow(frames, row)
        else:
            adds[hash_type, value] = row
    return list(adds.values()), list(videos.values()), removes
