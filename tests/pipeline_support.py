"""Helpers for the pipeline tests: a local web site, generated images, a rebinding resolver.

Everything listens on 127.0.0.1 with ephemeral ports and is stopped by the fixtures.
"""

from __future__ import annotations

import io
import random
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from PIL import Image


def make_image(seed: int, fmt: str = "PNG", size: tuple[int, int] = (64, 48)) -> bytes:
    """A synthetic noise-and-gradient image (never real content)."""
    rng = random.Random(seed)
    img = Image.new("RGB", size)
    px = img.load()
    assert px is not None
    for x in range(size[0]):
        for y in range(size[1]):
            px[x, y] = ((x * 4 + seed) % 256, (y * 5 + rng.randrange(64)) % 256, rng.randrange(256))
    buf = io.BytesIO()
    img.save(buf, fmt)
    return buf.getvalue()


@dataclass
class Page:
    """What the site answers for one path."""

    body: bytes = b""
    status: int = 200
    content_type: str = "text/html"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class LocalSite:
    """A threading HTTP server on 127.0.0.1:ephemeral with editable pages and a request log."""

    def __init__(self, port: int = 0) -> None:
        self.pages: dict[str, Page] = {}
        self.requests: list[tuple[str, str]] = []  # (Host header, path)
        site = self

        class _Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                site.requests.append((self.headers.get("Host", ""), self.path))
                page = site.pages.get(self.path)
                if page is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "9")
                    self.end_headers()
                    self.wfile.write(b"not found")
                    return
                if page.delay:
                    time.sleep(page.delay)
                self.send_response(page.status)
                self.send_header("Content-Type", page.content_type)
                self.send_header("Content-Length", str(len(page.body)))
                for k, v in page.headers.items():
                    self.send_header(k, v)
                self.end_headers()
                try:
                    self.wfile.write(page.body)
                except (BrokenPipeError, ConnectionResetError):
                    return  # the client went away (e.g. a worker killed mid-request)

            def log_message(self, *_args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def start(self) -> LocalSite:
        """Start serving in a thread."""
        self.thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self.server.shutdown()
        self.server.server_close()

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        """Absolute URL of a path on this site under a host name."""
        return f"http://{host}:{self.port}{path}"

    def html(self, path: str, body: str) -> None:
        """Serve an HTML page."""
        self.pages[path] = Page(body.encode(), content_type="text/html; charset=utf-8")

    def media(self, path: str, data: bytes, content_type: str = "image/png") -> None:
        """Serve media bytes."""
        self.pages[path] = Page(data, content_type=content_type)

    def redirect(self, path: str, location: str, status: int = 302) -> None:
        """Answer a redirect."""
        self.pages[path] = Page(b"", status=status, headers={"Location": location})

    def hosts_requested(self) -> set[str]:
        """Host names (without port) seen in requests."""
        return {h.rsplit(":", 1)[0] for h, _ in self.requests}


class SequenceResolver:
    """A resolver Protocol implementation whose answer changes per call (DNS rebinding)."""

    def __init__(self, answers: list[list[str]]) -> None:
        self.answers = answers
        self.calls: list[str] = []

    def resolve(self, host: str) -> list[str]:
        """Return the next answer (the last one repeats)."""
        self.calls.append(host)
        index = min(len(self.calls) - 1, len(self.answers) - 1)
        return list(self.answers[index])
