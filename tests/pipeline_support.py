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

    def __init__(self, port: int = 0, tls: Any = None) -> None:
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
        self.scheme = "http"
        if tls is not None:  # an ssl.SSLContext for server side
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
            self.scheme = "https"
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
        return f"{self.scheme}://{host}:{self.port}{path}"

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


def free_port() -> int:
    """An unused TCP port on 127.0.0.1 (for servers that cannot bind port 0 themselves)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class MailSink:
    """A local aiosmtpd SMTP server that keeps every message it receives."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[Any] = []
        sink = self

        class _Handler:
            async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:  # noqa: N802
                from email import message_from_bytes
                from email.policy import default

                msg = message_from_bytes(envelope.content, policy=default)
                sink.messages.append((list(envelope.rcpt_tos), msg))
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(_Handler(), hostname="127.0.0.1", port=self.port)

    def start(self) -> MailSink:
        """Start the SMTP server thread."""
        self.controller.start()
        return self

    def stop(self) -> None:
        """Stop the SMTP server."""
        self.controller.stop()


def build_mmdb(path: Any, networks: dict[str, dict[str, Any]]) -> None:
    """Write a small MaxMind-format database with country and ASN fields per network."""
    from mmdb_writer import MMDBWriter
    from netaddr import IPSet

    writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoLite2-Country")
    for cidr, info in networks.items():
        record: dict[str, Any] = {"country": {"iso_code": info["country"]}}
        if "asn" in info:
            record["autonomous_system_number"] = info["asn"]
            record["autonomous_system_organization"] = info.get("org", "")
        writer.insert_network(IPSet([cidr]), record)
    writer.to_db_file(str(path))


def vcard_entity(roles: list[str], email: str, nested: list[Any] | None = None) -> dict[str, Any]:
    """An RFC 9083 entity with a jCard holding an e-mail address."""
    entity: dict[str, Any] = {
        "objectClassName": "entity",
        "roles": roles,
        "vcardArray": [
            "vcard",
            [
                ["version", {}, "text", "4.0"],
                ["fn", {}, "text", roles[0]],
                ["email", {}, "text", email],
            ],
        ],
    }
    if nested:
        entity["entities"] = nested
    return entity


def rdap_ip_network(ip: str, cidr: str, name: str, abuse: str, country: str) -> dict[str, Any]:
    """An RFC 9083 'ip network' answer with an abuse contact nested under the registrant."""
    prefix, length = cidr.split("/")
    return {
        "rdapConformance": ["rdap_level_0", "cidr0"],
        "objectClassName": "ip network",
        "handle": f"NET-{ip}",
        "startAddress": ip,
        "endAddress": ip,
        "ipVersion": "v4",
        "name": name,
        "country": country,
        "cidr0_cidrs": [{"v4prefix": prefix, "length": int(length)}],
        "entities": [
            vcard_entity(["registrant"], f"noc@{name}.test", [vcard_entity(["abuse"], abuse)])
        ],
    }


def rdap_domain(name: str, registrar_abuse: str) -> dict[str, Any]:
    """An RFC 9083 'domain' answer whose registrar has an abuse contact."""
    return {
        "rdapConformance": ["rdap_level_0"],
        "objectClassName": "domain",
        "ldhName": name,
        "entities": [
            vcard_entity(
                ["registrar"], "info@registrar.test", [vcard_entity(["abuse"], registrar_abuse)]
            )
        ],
    }


def make_tls(tmp: Any, name: str) -> tuple[Any, Any, list[str]]:
    """A throw-away CA and a certificate for name: (server context, client context, SNI log)."""
    import datetime
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "openhotline test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    sni: list[str] = []
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert_path, key_path)
    server.sni_callback = lambda _sock, server_name, _ctx: sni.append(server_name or "")  # type: ignore[assignment,func-returns-value]
    client = ssl.create_default_context(cadata=ca.public_bytes(serialization.Encoding.PEM).decode())
    return server, client, sni
