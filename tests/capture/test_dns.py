"""The real resolver (dnspython) against a small DNS server on 127.0.0.1."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest

from openhotline.net.guard import DnsResolver, ResolutionError

ZONE = {("host-a.test.", "A"): ["127.0.0.1"], ("host-a.test.", "AAAA"): ["::1"]}


class LocalDns:
    """Answers A/AAAA from ZONE, NXDOMAIN for unknown names, SERVFAIL for fail.test."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopped.is_set():
            try:
                data, addr = self.sock.recvfrom(4096)
            except OSError:
                continue
            query = dns.message.from_wire(data)
            reply = dns.message.make_response(query)
            question = query.question[0]
            name = question.name.to_text()
            rdtype = dns.rdatatype.to_text(question.rdtype)
            if name == "fail.test.":
                reply.set_rcode(dns.rcode.SERVFAIL)
            elif (name, rdtype) in ZONE:
                reply.answer.append(
                    dns.rrset.from_text_list(name, 60, "IN", rdtype, ZONE[(name, rdtype)])
                )
            elif not any(n == name for n, _ in ZONE):
                reply.set_rcode(dns.rcode.NXDOMAIN)
            self.sock.sendto(reply.to_wire(), addr)

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(2)
        self.sock.close()


@pytest.fixture
def local_dns() -> Iterator[LocalDns]:
    server = LocalDns()
    yield server
    server.stop()


def test_resolves_a_and_aaaa(local_dns: LocalDns) -> None:
    resolver = DnsResolver(timeout=2.0, nameservers=["127.0.0.1"], port=local_dns.port)
    assert resolver.resolve("host-a.test") == ["127.0.0.1", "::1"]


def test_nxdomain_is_an_empty_answer(local_dns: LocalDns) -> None:
    resolver = DnsResolver(timeout=2.0, nameservers=["127.0.0.1"], port=local_dns.port)
    assert resolver.resolve("gone.test") == []


def test_servfail_is_a_transient_error(local_dns: LocalDns) -> None:
    resolver = DnsResolver(timeout=2.0, nameservers=["127.0.0.1"], port=local_dns.port)
    with pytest.raises(ResolutionError) as err:
        resolver.resolve("fail.test")
    assert err.value.transient
