"""python-threatexchange adapter: an openhotline hash list as a SignalExchangeAPI.

An HMA or `threatexchange` client fetches another openhotline's signed hash list
(``/api/v1/lists/hashes``) through this class, with the same checks as openhotline's own
list subscriptions (matching/subscriptions.py): the list description, then the signed
delta from the checkpoint's version (or the whole snapshot the first time), each file's
detached Ed25519 signature verified against the pinned key before anything is yielded.
Each fetch yields per-signal updates keyed (signal type, hash): a hash the publisher
removed comes as a deletion (None). PDQ maps to threatexchange's `pdq`, MD5 and SHA-256
to its `video_md5` and `video_sha256` (byte hashes of any file, despite the names), a
video's frame list to `vpdq` (for clients with threatexchange's vPDQ extension).

Load it in the threatexchange CLI with
``threatexchange config extensions add openhotline.matching.exchange``.
It needs the `exchange` extra; nothing else in openhotline imports this module, so a
deployment without threatexchange never loads it.
"""

# No `from __future__ import annotations` here: the threatexchange CLI builds its
# `config collab edit` options from the collaboration dataclass's field types, which must be
# real types rather than strings.
import json
import logging
import typing as t
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from threatexchange.exchanges import fetch_state as state
from threatexchange.exchanges.collab_config import CollaborationConfigWithDefaults
from threatexchange.exchanges.signal_exchange_api import SignalExchangeAPIWithSimpleUpdates
from threatexchange.extensions.manifest import ThreatExchangeExtensionManifest
from threatexchange.signal_type.md5 import VideoMD5Signal
from threatexchange.signal_type.pdq.signal import PdqSignal
from threatexchange.signal_type.sha256 import VideoSHA256Signal
from threatexchange.signal_type.signal_base import SignalType

from openhotline.clock import SYSTEM_CLOCK, Clock
from openhotline.matching.models import HashType
from openhotline.matching.subscriptions import (
    HttpListFetcher,
    ListFetcher,
    MissingFileError,
    SubscriptionInvalidError,
    entries_of,
    entry_hashes,
    fetch_signed,
    latest_version,
    list_url,
    read_api_key,
)

log = logging.getLogger("openhotline.matching.exchange")

# openhotline's hash columns as threatexchange signal types.
SIGNAL_NAMES: dict[HashType, str] = {
    HashType.PDQ: PdqSignal.get_name(),
    HashType.MD5: VideoMD5Signal.get_name(),
    HashType.SHA256: VideoSHA256Signal.get_name(),
}

Key = tuple[str, str]  # (signal type name, signal value)
# A listed video's frames go out as threatexchange's VPDQ signal (its vPDQ extension, which
# needs the vpdq package: only clients that load it ask for this name).
VPDQ_NAME = "vpdq"


@dataclass
class _RequiredFields:
    list_url: str = field(
        metadata={"help": "the publisher's hash list, https://HOST/api/v1/lists/hashes"}
    )
    api_key_file: str = field(
        metadata={"help": "a file holding the partner API key (scope hashes.read)"}
    )
    verify_key: str = field(
        metadata={"help": "the publisher's Ed25519 public key (base64), pinned"}
    )


@dataclass
class OpenhotlineCollabConfig(CollaborationConfigWithDefaults, _RequiredFields):
    """One subscription to an openhotline publisher, as threatexchange stores it."""


@dataclass
class OpenhotlineSignalMetadata(state.FetchedSignalMetadata):
    """What the publisher says of a hash: its classification and where it came from."""

    classification: str = ""
    provenance: str = ""

    def get_as_opinions(self) -> Sequence[state.SignalOpinion]:
        """A published hash was confirmed by two analysts: a positive, tagged with its class."""
        tags = {self.classification} if self.classification else set()
        return [state.SignalOpinion(False, state.SignalOpinionCategory.POSITIVE_CLASS, tags)]


@dataclass
class OpenhotlineCheckpoint(state.FetchCheckpointBase):
    """The list version the client holds; `refetch` asks for a clean fetch next time."""

    version: int = 0
    fetched_at: int = 0  # unix seconds
    # Set when a fetch could not tell which hashes left (publisher restored from a
    # backup, or neither the delta nor the old snapshot is kept): the client clears its
    # copy and fetches the whole list on its next run.
    refetch: bool = False

    def is_stale(self) -> bool:
        """True when the stored copy must be thrown away and fetched again."""
        return self.refetch

    def get_progress_timestamp(self) -> int | None:
        """When this version was fetched."""
        return self.fetched_at or None


_Delta = state.FetchDelta[Key, OpenhotlineSignalMetadata, OpenhotlineCheckpoint]


class OpenhotlineSignalExchangeAPI(
    SignalExchangeAPIWithSimpleUpdates[
        OpenhotlineCollabConfig, OpenhotlineCheckpoint, OpenhotlineSignalMetadata
    ]
):
    """Fetches an openhotline publisher's signed hash list, verified, as signal updates."""

    def __init__(
        self,
        collab: OpenhotlineCollabConfig,
        api_key: str,
        fetcher: ListFetcher,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.collab = collab
        self.url = list_url(collab.list_url)
        self.api_key = api_key
        self.fetcher = fetcher
        self.clock = clock

    @classmethod
    def get_name(cls) -> str:
        """The name collaborations refer to this API by."""
        return "openhotline"

    @staticmethod
    def get_config_cls() -> type[OpenhotlineCollabConfig]:
        """The collaboration settings."""
        return OpenhotlineCollabConfig

    @staticmethod
    def get_checkpoint_cls() -> type[OpenhotlineCheckpoint]:
        """The checkpoint kept between fetches."""
        return OpenhotlineCheckpoint

    @staticmethod
    def get_record_cls() -> type[OpenhotlineSignalMetadata]:
        """The metadata of one signal."""
        return OpenhotlineSignalMetadata

    @classmethod
    def for_collab(cls, collab: OpenhotlineCollabConfig) -> "OpenhotlineSignalExchangeAPI":
        """Authenticated from the collaboration's key file; HTTP to its list URL only.

        threatexchange builds its APIs itself, so this is the adapter's composition root
        when a threatexchange or HMA process (not openhotline) runs it.
        """
        return cls(collab, read_api_key(Path(collab.api_key_file)), HttpListFetcher())

    def _signed(self, name: str) -> dict[str, t.Any]:
        return fetch_signed(
            self.fetcher, f"{self.url}/{name}", self.api_key, self.collab.verify_key
        )

    def _updates(
        self, entries: list[t.Any], where: str, wanted: set[str]
    ) -> dict[Key, OpenhotlineSignalMetadata]:
        out: dict[Key, OpenhotlineSignalMetadata] = {}
        for n, entry in enumerate(entries, start=1):
            pairs = entry_hashes(entry, f"{where} entry {n}")  # refuses a bad row, whole file
            meta = OpenhotlineSignalMetadata(
                classification=str(entry.get("classification") or "")[:100],
                provenance=str(entry.get("provenance") or "")[:200],
            )
            for hash_type, value in pairs:
                name = SIGNAL_NAMES.get(hash_type)
                if name is not None and name in wanted:
                    out[name, value] = meta
            frames = entry.get("vpdq")
            if VPDQ_NAME in wanted and isinstance(frames, list):
                # The VPDQ signal string is this JSON list as threatexchange writes it.
                out[VPDQ_NAME, json.dumps(frames)] = meta
        return out

    def _checkpoint(self, version: int, *, refetch: bool = False) -> OpenhotlineCheckpoint:
        return OpenhotlineCheckpoint(version, int(self.clock.now().timestamp()), refetch)

    def fetch_iter(
        self,
        supported_signal_types: Sequence[type[SignalType]],
        checkpoint: OpenhotlineCheckpoint | None,
    ) -> Iterator[_Delta]:
        """Yield one verified batch: the changes since the checkpoint's version."""
        wanted = {st.get_name() for st in supported_signal_types}
        latest = latest_version(self.fetcher, self.url, self.api_key, self.collab.verify_key)
        start = checkpoint.version if checkpoint is not None else 0
        if latest == start:
            yield _Delta({}, self._checkpoint(latest))
            return
        if 0 < start < latest:
            changes = self._since(start, latest, wanted)
            if changes is not None:
                yield _Delta(changes, self._checkpoint(latest))
                return
        snap = self._signed(f"snapshot/{latest}.json")
        if snap.get("version") != latest:
            raise SubscriptionInvalidError("the snapshot is not the version asked for")
        updates: dict[Key, OpenhotlineSignalMetadata | None] = dict(
            self._updates(entries_of(snap, "entries"), "snapshot", wanted)
        )
        if start > 0:
            log.warning(
                "%s: cannot tell what left between versions %d and %d; the next fetch "
                "starts again from the whole list",
                self.url,
                start,
                latest,
            )
        yield _Delta(updates, self._checkpoint(latest, refetch=start > 0))

    def _since(
        self, start: int, latest: int, wanted: set[str]
    ) -> dict[Key, OpenhotlineSignalMetadata | None] | None:
        """Changes start -> latest from the signed delta, else from two signed snapshots."""
        try:
            delta = self._signed(f"delta/{start}-{latest}.json")
        except MissingFileError:
            delta = None
        if delta is not None:
            if delta.get("from_version") != start or delta.get("version") != latest:
                raise SubscriptionInvalidError("the delta is not the one asked for")
            removed = self._updates(entries_of(delta, "removed"), "delta removed", wanted)
            added = self._updates(entries_of(delta, "added"), "delta added", wanted)
            changes: dict[Key, OpenhotlineSignalMetadata | None] = dict.fromkeys(removed)
            changes.update(added)  # removed then added again: it stays
            return changes
        try:
            old = self._signed(f"snapshot/{start}.json")
        except MissingFileError:
            return None
        new = self._signed(f"snapshot/{latest}.json")
        if old.get("version") != start or new.get("version") != latest:
            raise SubscriptionInvalidError("the snapshot is not the version asked for")
        before = self._updates(entries_of(old, "entries"), "snapshot", wanted)
        after = self._updates(entries_of(new, "entries"), "snapshot", wanted)
        changes = dict.fromkeys(before.keys() - after.keys())
        changes.update(after)
        return changes


# Read by `threatexchange config extensions add openhotline.matching.exchange`.
TX_MANIFEST = ThreatExchangeExtensionManifest(apis=(OpenhotlineSignalExchangeAPI,))
