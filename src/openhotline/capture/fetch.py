"""The safe fetcher: guarded connections, manual redirects, size and time limits."""

from __future__ import annotations

import io
import ssl
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

from openhotline.capture.sniff import sniff
from openhotline.net.guard import AddressGuard, BlockedAddressError, ResolutionError
from openhotline.net.transport import DeadlineExceeded, PinnedBackend, safe_client
from openhotline.net.transport import deadline as net_deadline
from openhotline.urls import InvalidURLError, canonicalize

REDIRECTS = (301, 302, 303, 307, 308)
WEB_SCHEMES = ("http", "https")
# The codings we ask for are the ones we decode ourselves, step by step under the limit.
DECODED = ("gzip", "x-gzip", "deflate")
ACCEPT_ENCODING = "gzip, deflate"
GZIP_MAGIC = b"\x1f\x8b"
STEP = 64 * 1024


@dataclass(frozen=True)
class FetchLimits:
    """Limits on one fetch (from settings)."""

    max_bytes: int = 25 * 1024 * 1024
    max_redirects: int = 5
    timeout: float = 10.0  # wall clock for one fetch: every hop, connect, read and write
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
        # httpx parses a redirect's Location before returning the response (even without
        # following it) and raises its own errors on javascript:/data: targets; the hook
        # runs first and refuses them as ours.
        self.client.event_hooks = {"response": [_check_redirect]}

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
        """GET url following at most max_redirects redirects, each hop checked again.

        The whole fetch (every hop, every read) ends by `timeout` seconds from now, or by
        deadline (a case's) if that comes first; running out is a permanent failure.
        """
        limit = max_bytes or self.limits.max_bytes
        now = time.monotonic()
        end = min(now + self.limits.timeout, deadline or now + self.limits.deadline_seconds)
        with net_deadline(end):
            return self._fetch(url, limit, end)

    def _fetch(self, url: str, limit: int, end: float) -> FetchResult:
        hops: list[str] = []
        current = _checked_url(url)
        for _ in range(self.limits.max_redirects + 1):
            hops.append(current)
            try:
                with self.client.stream(
                    "GET", current, headers={"Accept-Encoding": ACCEPT_ENCODING}
                ) as resp:
                    if resp.status_code in REDIRECTS and "location" in resp.headers:
                        current = _redirect_target(current, resp.headers["location"])
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
            except (BlockedAddressError, ResolutionError, DeadlineExceeded) as exc:
                raise _failure(current, exc) from exc
            except httpx.TransportError as exc:
                cause = exc.__cause__ or exc.__context__
                if isinstance(cause, BlockedAddressError | ResolutionError | DeadlineExceeded):
                    raise _failure(current, cause) from exc
                # Out of time once connected: the server is slow, and would be again. A
                # host that never accepted the connection may be back later (transient).
                connected = not isinstance(exc, httpx.ConnectTimeout)
                if (
                    isinstance(exc, httpx.TimeoutException)
                    and connected
                    and time.monotonic() >= end
                ):
                    raise _failure(current, DeadlineExceeded(str(exc))) from exc
                if isinstance(cause, httpx.InvalidURL):  # httpx parses Location itself
                    raise FetchError(f"{current}: refused redirect: {exc}", permanent=True) from exc
                if _head_too_large(exc):
                    raise FetchError(
                        f"{current}: refused response head (headers over the size limit)",
                        permanent=True,
                    ) from exc
                raise FetchError(
                    f"{current}: {type(exc).__name__}: {exc}", permanent=False
                ) from exc
            except (httpx.HTTPError, httpx.InvalidURL) as exc:
                # Anything else the client refuses is about this URL, not the network.
                raise FetchError(f"{current}: {type(exc).__name__}: {exc}", permanent=True) from exc
        raise FetchError(f"more than {self.limits.max_redirects} redirects", permanent=True)


def _failure(url: str, exc: Exception) -> FetchError:
    if isinstance(exc, DeadlineExceeded):
        # A server that drips bytes would do so again: retrying only holds a worker longer.
        return FetchError(f"{url}: took longer than the time limit ({exc})", permanent=True)
    return FetchError(f"{url}: {exc}", permanent=_permanent(exc))


def _head_too_large(exc: BaseException) -> bool:
    """True when the HTTP parser gave up on headers that never end (h11 hints 431)."""
    seen: BaseException | None = exc
    for _ in range(5):  # httpx error <- httpcore error <- h11 error
        if seen is None:
            return False
        if getattr(seen, "error_status_hint", None) == 431:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _permanent(exc: Exception) -> bool:
    return not (isinstance(exc, ResolutionError) and exc.transient)


def _checked_url(url: str) -> str:
    try:
        return canonicalize(url).url
    except InvalidURLError as exc:
        raise FetchError(f"refused URL {url[:200]!r}: {exc}", permanent=True) from exc


def _redirect_target(current: str, location: str) -> str:
    """The next hop of a redirect; anything but an http(s) URL is a permanent failure."""
    try:
        scheme = urlsplit(location.strip()).scheme.lower()
        joined = str(httpx.URL(current).join(location))
    except (ValueError, httpx.InvalidURL) as exc:
        raise FetchError(
            f"{current}: refused redirect to {location[:200]!r}: {exc}", permanent=True
        ) from exc
    if scheme and scheme not in WEB_SCHEMES:
        raise FetchError(
            f"{current}: refused redirect to a non-web scheme {scheme[:20]!r}", permanent=True
        )
    return _checked_url(joined)


def _check_redirect(resp: httpx.Response) -> None:
    if resp.status_code in REDIRECTS and "location" in resp.headers:
        _redirect_target(str(resp.request.url), resp.headers["location"])


def _codings(resp: httpx.Response) -> list[str]:
    """The content codings applied to the body, outermost last (identity dropped)."""
    values = resp.headers.get_list("content-encoding", split_commas=True)
    return [v.strip().lower() for v in values if v.strip() and v.strip().lower() != "identity"]


class _Inflater:
    """Incremental gzip/deflate decoding that never makes more than STEP bytes at a time.

    zlib's max_length bounds each step, so a bomb costs at most one step of memory beyond
    the size limit the caller checks after every step.
    """

    def __init__(self, coding: str) -> None:
        self.coding = coding
        self._gzip = coding in ("gzip", "x-gzip")
        self._d: Any = None  # zlib.Decompress; deflate's framing is decided on its first bytes
        self._checked_inner = False
        self._head = b""

    def _new(self, data: bytes) -> Any:
        if self._gzip:
            return zlib.decompressobj(16 + zlib.MAX_WBITS)
        # "deflate" is meant to be zlib-wrapped, but many servers send raw deflate.
        wrapped = len(data) >= 2 and (data[0] & 0x0F) == 8 and int.from_bytes(data[:2]) % 31 == 0
        return zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)

    def feed(self, data: bytes) -> Iterator[bytes]:
        """Decode data, yielding pieces of at most STEP bytes."""
        while data:
            if self._d is None:
                self._d = self._new(data)
            try:
                out = self._d.decompress(data, STEP)
            except zlib.error as exc:
                raise _RefusedBodyError(f"undecodable {self.coding} body: {exc}") from exc
            data = self._d.unconsumed_tail
            if out:
                yield self._inspect(out)
            if self._d.eof:
                rest = self._d.unused_data
                if self._gzip and rest.startswith(GZIP_MAGIC):
                    self._d = None  # a multi-member gzip file: the next member follows
                    data = rest
                else:
                    return  # trailing bytes after the stream are ignored, as browsers do

    def _inspect(self, out: bytes) -> bytes:
        if not self._checked_inner:
            self._head += out[: len(GZIP_MAGIC)]
            if len(self._head) >= len(GZIP_MAGIC):
                self._checked_inner = True
                if self._head.startswith(GZIP_MAGIC):
                    raise _RefusedBodyError(
                        f"stacked content encodings (gzip inside {self.coding})"
                    )
        return out

    def finish(self) -> None:
        """Refuse a body that ended inside the compressed stream."""
        if self._d is not None and not self._d.eof:
            raise _RefusedBodyError(f"truncated {self.coding} body")


class _RefusedBodyError(Exception):
    """The body is refused for what it is (not how big): becomes a permanent FetchError."""


def _read_limited(resp: httpx.Response, limit: int, end: float) -> bytes:
    declared = resp.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise FetchError(f"{resp.url}: larger than {limit} bytes", permanent=True)
    codings = _codings(resp)
    if len(codings) > 1:
        raise FetchError(
            f"{resp.url}: refused stacked content encodings {', '.join(codings)[:100]}",
            permanent=True,
        )
    if codings and codings[0] not in DECODED:
        raise FetchError(
            f"{resp.url}: refused content encoding {codings[0][:40]!r} (not requested)",
            permanent=True,
        )
    inflater = _Inflater(codings[0]) if codings else None
    # BytesIO hands its buffer over at the end instead of copying it (a list joined at the
    # end held every body twice at its peak).
    body = io.BytesIO()
    raw_size = size = 0
    try:
        # Raw bytes only: the HTTP client's own decoders inflate a whole chunk at once,
        # before any limit can run (2 KB of gzip inside gzip reached 3.2 GiB).
        for raw in resp.iter_raw(STEP):
            raw_size += len(raw)
            if raw_size > limit:
                raise FetchError(f"{resp.url}: larger than {limit} bytes", permanent=True)
            for piece in inflater.feed(raw) if inflater is not None else (raw,):
                size += len(piece)
                if size > limit:
                    raise FetchError(
                        f"{resp.url}: larger than {limit} bytes (decoded)", permanent=True
                    )
                body.write(piece)
            if time.monotonic() > end:
                raise DeadlineExceeded("deadline exceeded while reading the body")
        if inflater is not None:
            inflater.finish()
    except _RefusedBodyError as exc:
        raise FetchError(f"{resp.url}: refused body: {exc}", permanent=True) from exc
    return body.getvalue()
