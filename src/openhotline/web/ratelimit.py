"""Per-client rate limiting kept in memory only: client addresses never reach storage."""

from __future__ import annotations

import hashlib
import math
import secrets
import threading
import time
from collections import OrderedDict

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


async def public_rate_limit(request: Request) -> None:
    """Dependency: refuse with 429 when this client sends too many public requests."""
    limiter: TokenBucketLimiter = request.app.state.public_limiter
    client = request.client.host if request.client else "unknown"
    wait = limiter.take(client)
    if wait > 0:
        raise ApiError(
            429,
            "too many requests; please wait a minute and try again",
            retry_after=math.ceil(wait),
        )
