"""An httpx transport that connects only to the addresses the guard checked (no rebinding).

The check and the connect are one step: our httpcore network backend resolves the name,
checks every answer and opens the socket to a checked address. The URL is untouched, so
the Host header, TLS SNI and certificate checks still use the host name.
"""

from __future__ import annotations

import contextvars
import ssl
import time
import typing
from collections.abc import Iterator
from contextlib import contextmanager

import httpcore
import httpx

from openhotline.net.guard import AddressGuard, BlockedAddressError

SOCKET_OPTION = typing.Any

# The wall-clock moment (time.monotonic) by which the current request must be done. A
# context variable, because the connection pool is shared and streams outlive one request.
_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "openhotline_net_deadline", default=None
)


class DeadlineExceeded(httpcore.ReadTimeout):
    """The request's wall-clock deadline passed (a read, write or connect was cut short)."""


@contextmanager
def deadline(at: float) -> Iterator[None]:
    """Bound every connect, read and write inside the block by the monotonic time `at`."""
    current = _DEADLINE.get()
    token = _DEADLINE.set(at if current is None else min(at, current))
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def _bounded(timeout: float | None, what: str) -> float | None:
    """The socket timeout to use now: the smaller of timeout and what is left of the deadline."""
    end = _DEADLINE.get()
    if end is None:
        return timeout
    left = end - time.monotonic()
    if left <= 0:
        raise DeadlineExceeded(f"deadline exceeded before {what}")
    return left if timeout is None else min(timeout, left)


class DeadlineStream(httpcore.NetworkStream):
    """A network stream whose every read and write ends by the current deadline.

    A per-read timeout alone lets a server dripping one byte a second hold a request for
    ever; here each operation gets only what is left of the request's wall-clock budget.
    """

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self.inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        """Read at most max_bytes, by the deadline."""
        bounded = _bounded(timeout, "read")
        try:
            return self.inner.read(max_bytes, timeout=bounded)
        except httpcore.ReadTimeout as exc:
            if bounded is not None and bounded != timeout:
                raise DeadlineExceeded("deadline exceeded while reading") from exc
            raise

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        """Write buffer, by the deadline."""
        self.inner.write(buffer, timeout=_bounded(timeout, "write"))

    def close(self) -> None:
        """Close the socket."""
        self.inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        """Upgrade to TLS (the handshake is bounded by the deadline too)."""
        inner = self.inner.start_tls(
            ssl_context, server_hostname, timeout=_bounded(timeout, "the TLS handshake")
        )
        return DeadlineStream(inner)

    def get_extra_info(self, info: str) -> typing.Any:
        """Delegate (httpcore asks for the ssl object, socket, addresses)."""
        return self.inner.get_extra_info(info)


class PinnedBackend(httpcore.NetworkBackend):
    """Resolves through the guard and connects to a checked address, never the OS resolver."""

    def __init__(self, guard: AddressGuard, inner: httpcore.NetworkBackend | None = None) -> None:
        self.guard = guard
        self.inner = inner or httpcore.SyncBackend()
        self.connected: list[tuple[str, int]] = []

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        """Open a TCP connection to a checked address of host (checked for this port)."""
        addresses = self.guard.resolve_checked(host, port)
        last: Exception | None = None
        for address in addresses:
            try:
                stream = self.inner.connect_tcp(
                    address,
                    port,
                    timeout=_bounded(timeout, "connecting"),
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except httpcore.ConnectError as exc:
                last = exc
                continue
            self.connected.append((address, port))
            return DeadlineStream(stream)
        raise httpcore.ConnectError(f"could not connect to {host}:{port}: {last}")

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: typing.Iterable[SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        """Unix sockets are never reachable from the crawler."""
        raise BlockedAddressError("unix sockets are refused")

    def sleep(self, seconds: float) -> None:
        """Delegate sleeping to the inner backend."""
        self.inner.sleep(seconds)


class PinnedTransport(httpx.HTTPTransport):
    """httpx transport whose connection pool uses PinnedBackend (no proxies, no env)."""

    def __init__(self, backend: PinnedBackend, *, verify: ssl.SSLContext | bool = True) -> None:
        super().__init__(verify=verify, trust_env=False, retries=0)
        ssl_context = (
            verify
            if isinstance(verify, ssl.SSLContext)
            else httpx.create_ssl_context(verify=verify, trust_env=False)
        )
        # httpx has no public hook for the network backend; replacing its pool is the
        # documented-by-source way (httpx/_transports/default.py builds the same pool).
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context,
            max_connections=10,
            max_keepalive_connections=5,
            keepalive_expiry=5.0,
            network_backend=backend,
        )


def safe_client(
    guard: AddressGuard,
    *,
    timeout: float = 10.0,
    user_agent: str = "openhotline-crawler",
    inner: httpcore.NetworkBackend | None = None,
    verify: ssl.SSLContext | bool = True,
) -> tuple[httpx.Client, PinnedBackend]:
    """Return an httpx client that can only reach addresses the guard allows."""
    backend = PinnedBackend(guard, inner)
    client = httpx.Client(
        transport=PinnedTransport(backend, verify=verify),
        timeout=httpx.Timeout(timeout),
        follow_redirects=False,
        trust_env=False,
        headers={"User-Agent": user_agent, "Accept-Encoding": "identity"},
    )
    return client, backend
