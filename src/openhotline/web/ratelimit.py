"""Per-client rate limiting kept in memory only: client addresses never reach storage.

One process keeps its buckets in a dict; the processes of `serve --workers N` share a
small table in RAM-backed shared memory, so the limit holds for the server as a whole.
"""

from __future__ import annotations

import hashlib
import math
import mmap
import os
import secrets
import struct
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

from fastapi import Request

from openhotline.web.errors import ApiError


class TokenBucketLimiter:
    """A token bucket per client, keyed by a salted hash of the address, bounded in size."""

    def __init__(self, per_minute: int, burst: int, max_clients: int = 100_000) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(max(burst, 1))
        self.max_clients = max_clients
        self._buckets: OrderedDict[bytes, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()
        # A per-process salt: even a memory dump shows no usable addresses.
        self._salt = secrets.token_bytes(16)

    def allow(self, client: str) -> bool:
        """Take one token for client; False when the client is over its rate."""
        return self.take(client) == 0.0

    def take(self, client: str) -> float:
        """Take one token for client: 0.0 when allowed, else the seconds until one is due."""
        if self.rate <= 0:
            return 0.0
        key = hashlib.blake2b(client.encode(), key=self._salt, digest_size=16).digest()
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.pop(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            allowed = tokens >= 1.0
            if allowed:
                tokens -= 1.0
            self._buckets[key] = (tokens, now)
            while len(self._buckets) > self.max_clients:
                self._buckets.popitem(last=False)
            return 0.0 if allowed else (1.0 - tokens) / self.rate


class Limiter(Protocol):
    """What the public endpoints ask of a rate limiter."""

    def take(self, client: str) -> float:
        """Take one token for client: 0.0 when allowed, else the seconds until one is due."""
        ...


# The shared table: a header (magic, salt) then fixed slots of (key, tokens, last).
_MAGIC = b"OHRATE01"
_HEADER = struct.Struct("<8s16s8x")
_SLOT = struct.Struct("<Qdd")
SHARED_SLOTS = 1 << 16
_PROBE = 8  # slots looked at per client; a full window evicts its longest-idle bucket


class SharedTokenBucketLimiter:
    """Token buckets in a small memory-mapped table that every server process shares.

    With `serve --workers N` each process used to keep its own buckets, so a client could
    send N times the configured rate (a keep-alive connection sticks to one process, a new
    one may land on any). The table lives in a RAM-backed temporary file made by `serve`
    (`create`), holds only salted 64-bit hashes of addresses with two numbers each, and is
    deleted when `serve` exits. One `flock` around each look-up keeps processes consistent;
    CLOCK_MONOTONIC is the same clock in every process on the machine.
    """

    def __init__(self, path: Path, per_minute: int, burst: int) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(max(burst, 1))
        self.path = path
        self._fd = os.open(path, os.O_RDWR)
        size = _HEADER.size + SHARED_SLOTS * _SLOT.size
        if os.fstat(self._fd).st_size != size:
            os.close(self._fd)
            raise ValueError(f"{path} is not a rate-limit table (wrong size)")
        self._map = mmap.mmap(self._fd, size)
        magic, self._salt = _HEADER.unpack_from(self._map, 0)
        if magic != _MAGIC:
            self.close()
            raise ValueError(f"{path} is not a rate-limit table")
        self._local = threading.Lock()

    @staticmethod
    def create(directory: Path | None = None) -> Path:
        """Make a fresh, empty table (RAM-backed /dev/shm when there is one); return its path."""
        if directory is None and Path("/dev/shm").is_dir():  # noqa: S108 - RAM, not a tmp path
            directory = Path("/dev/shm")  # noqa: S108
        fd, name = tempfile.mkstemp(prefix="openhotline-rate-", dir=directory)
        try:
            os.ftruncate(fd, _HEADER.size + SHARED_SLOTS * _SLOT.size)
            os.pwrite(fd, _HEADER.pack(_MAGIC, secrets.token_bytes(16)), 0)
        finally:
            os.close(fd)
        return Path(name)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        import fcntl  # POSIX only: `serve` makes a shared table only there

        with self._local:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    def take(self, client: str) -> float:
        """Take one token for client: 0.0 when allowed, else the seconds until one is due."""
        if self.rate <= 0:
            return 0.0
        digest = hashlib.blake2b(client.encode(), key=self._salt, digest_size=8).digest()
        key = int.from_bytes(digest, "little") | 1  # 0 marks an empty slot
        start = key % SHARED_SLOTS
        now = time.monotonic()
        with self._locked():
            chosen, tokens, last = -1, self.burst, now
            oldest, oldest_at = -1, math.inf
            for i in range(_PROBE):
                slot = (start + i) % SHARED_SLOTS
                k, t, at = _SLOT.unpack_from(self._map, _HEADER.size + slot * _SLOT.size)
                if k == key:
                    chosen, tokens, last = slot, t, at
                    break
                if k == 0 and chosen < 0:
                    chosen = slot
                if k != 0 and at < oldest_at:
                    oldest, oldest_at = slot, at
            if chosen < 0:
                chosen = oldest  # every slot of the window in use: the longest-idle goes
            tokens = min(self.burst, tokens + max(0.0, now - last) * self.rate)
            allowed = tokens >= 1.0
            if allowed:
                tokens -= 1.0
            _SLOT.pack_into(self._map, _HEADER.size + chosen * _SLOT.size, key, tokens, now)
        return 0.0 if allowed else (1.0 - tokens) / self.rate

    def allow(self, client: str) -> bool:
        """Take one token for client; False when the client is over its rate."""
        return self.take(client) == 0.0

    def close(self) -> None:
        """Unmap the table (the file is `serve`'s to delete)."""
        self._map.close()
        os.close(self._fd)


def make_limiter(per_minute: int, burst: int, shared_table: str = "") -> Limiter:
    """The shared table when `serve` made one for its processes, else an in-process one."""
    if shared_table and os.name == "posix":
        return SharedTokenBucketLimiter(Path(shared_table), per_minute, burst)
    return TokenBucketLimiter(per_minute, burst)


async def public_rate_limit(request: Request) -> None:
    """Dependency: refuse with 429 when this client sends too many public requests."""
    limiter: Limiter = request.app.state.public_limiter
    client = request.client.host if request.client else "unknown"
    wait = limiter.take(client)
    if wait > 0:
        raise ApiError(
            429,
            "too many requests; please wait a minute and try again",
            retry_after=math.ceil(wait),
        )
