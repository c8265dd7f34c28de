"""An httpx transport that connects only to the addresses the guard checked (no rebinding).

The check and the connect are one step: our httpcore network backend resolves the name,
checks every answer and opens the socket to a checked address. The URL is untouched, so
the Host header, TLS SNI and certificate checks still use the host name.
"""

from __future__ import annotations

import ssl
import typing

import httpcore
import httpx

from openhotline.net.guard import AddressGuard, BlockedAddressError

SOCKET_OPTION = typing.Any


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
        """Open a TCP connection to a checked address of host."""
        addresses = self.guard.resolve_checked(host)
        last: Exception | None = None
        for address in addresses:
            try:
                stream = self.inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except httpcore.ConnectError as exc:
                last = exc
                continue
            self.connected.append((address, port))
            return stream
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
