"""The safe fetcher: guarded connections, manual redirects, size and time limits."""

from __future__ import annotations

import ssl
import time
from dataclasses import dataclass

import httpcore
import httpx

from openhotline.capture.sniff import sniff
from openhotline.net.guard import AddressGuard, BlockedAddressError, ResolutionError
from openhotline.net.transport import PinnedBackend, safe_client
from openhotline.urls import InvalidURLError, canonicalize

REDIRECTS = (301, 302, 303, 307, 308)


@dataclass(frozen=True)
class FetchLimits:
    """Limits on one fetch (from settings)."""

    max_bytes: int = 25 * 1024 * 1024
    max_redirects: int = 5
    timeout: float = 10.0
    deadline_seconds: float = 60.0


@dataclass
class FetchResult:
    """What a URL answered: final URL after redirects, status, sniffed type and body."""

    url: str
    final_url: str
    status: int
    media_type: str
    body: bytes
    hops: list[str]


class FetchError(Exception):
    """A fetch that failed; permanent ones (refused, invalid, too big) are not retried."""

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


class SafeFetcher:
    """Fetches http(s) URLs through the SSRF guard; never runs scripts or uses proxies."""

    def __init__(
        self,
        guard: AddressGuard,
        limits: FetchLimits,
        *,
        user_agent: str = "openhotline",
        network: httpcore.NetworkBackend | None = None,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self.limits = limits
        self.client, self.backend = safe_client(
            guard, timeout=limits.timeout, user_agent=user_agent, inner=network, verify=verify
        )

    @property
    def connections(self) -> PinnedBackend:
        """The network backend (its `connected` list records every address used)."""
        return self.backend

    def close(self) -> None:
        """Close pooled connections."""
        self.client.close()

    def __enter__(self) -> SafeFetcher:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def fetch(
        self, url: str, *, max_bytes: int | None = None, deadline: float | None = None
    ) -> FetchResult:
        """GET url following at most max_redirects redirects, each hop checked again."""
        limit = max_bytes or self.limits.max_bytes
        end = deadline or (time.monotonic() + self.limits.deadline_seconds)
        hops: list[str] = []
        current = _checked_url(url)
        for _ in range(self.limits.max_redirects + 1):
            hops.append(current)
            try:
                with self.client.stream("GET", current) as resp:
                    if resp.status_code in REDIRECTS and "location" in resp.headers:
                        target = resp.headers["location"]
                        current = _checked_url(str(httpx.URL(current).join(target)))
                        continue
                    body = _read_limited(resp, limit, end)
                    return FetchResult(
                        url=url,
                        final_url=current,
                        status=resp.status_code,
                        media_type=sniff(body),
                        body=body,
                        hops=hops,
                    )
            except (BlockedAddressError, ResolutionError) as exc:
                raise FetchError(f"{current}: {exc}", permanent=_permanent(exc)) from exc
            except httpx.TransportError as exc:
                cause = exc.__cause__ or exc.__context__
                if isinstance(cause, BlockedAddressError | ResolutionError):
                    raise FetchError(f"{current}: {cause}", permanent=_permanent(cause)) from exc
                raise FetchError(
                    f"{current}: {type(exc).__name__}: {exc}", permanent=False
                ) from exc
        raise FetchError(f"more than {self.limits.max_redirects} redirects", permanent=True)


def _permanent(exc: Exception) -> bool:
    return not (isinstance(exc, ResolutionError) and exc.transient)


def _checked_url(url: str) -> str:
    try:
        return canonicalize(url).url
    except InvalidURLError as exc:
        raise FetchError(f"refused URL {url[:200]!r}: {exc}", permanent=True) from exc


def _read_limited(resp: httpx.Response, limit: int, end: float) -> bytes:
    declared = resp.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise FetchError(f"{resp.url}: larger than {limit} bytes", permanent=True)
    chunks: list[bytes] = []
    size = 0
    # iter_bytes decodes gzip/deflate in bounded chunks, so a decompression bomb trips the
    # same limit as a plain large body.
    for chunk in resp.iter_bytes(65536):
        size += len(chunk)
        if size > limit:
            raise FetchError(f"{resp.url}: larger than {limit} bytes", permanent=True)
        if time.monotonic() > end:
            raise FetchError(f"{resp.url}: took too long", permanent=False)
        chunks.append(chunk)
    return b"".join(chunks)
