"""The crawler against a hostile server (its own process on 127.0.0.1): compression bombs,
stacked encodings, dripping, endless bodies and headers, redirects to non-web schemes.

Every fetch ends within its time limit with a permanent failure and a reason, and its memory
stays bounded (issue 12: 2 KB of gzip inside gzip drove one fetch to 3.2 GiB).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
import tracemalloc
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpcore
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from openhotline.bootstrap import build as build_services
from openhotline.capture.crawler import CrawlLimits, crawl
from openhotline.capture.fetch import FetchError, FetchLimits, SafeFetcher
from openhotline.cases.models import Case, CaseEvent, CaseStatus
from openhotline.config import Settings
from openhotline.db import transaction
from openhotline.jobs.models import Job
from openhotline.jobs.queue import build_queue
from openhotline.net.guard import AddressGuard, StaticResolver, parse_networks
from openhotline.reporting.schemas import ReportIn
from openhotline.reporting.service import submit_report

SERVER = Path(__file__).with_name("hostile_server.py")
MIB = 1 << 20
MEMORY_BOUND = 100 * MIB  # above the worker's baseline, whatever the server sends
TIMEOUT = 1.5  # seconds per fetch in these tests

# path -> what the refusal says; every one of them is permanent (retrying cannot help).
HOSTILE = {
    "/gzip-gzip": "stacked content encodings",
    "/gzip-gzip-two-headers": "stacked content encodings",
    "/gzip-inside-gzip": "gzip inside gzip",
    "/gzip-bomb": "larger than",
    "/deflate-bomb": "larger than",
    "/brotli": "not requested",
    "/drip-headers": "time limit",
    "/drip-body": "time limit",
    "/endless-body": "larger than",
    "/endless-chunked": "larger than",
    "/huge-headers": "response head",
    "/huge-header-line": "response head",
    "/to-javascript": "non-web scheme 'javascript'",
    "/to-data": "non-web scheme 'data'",
    "/to-ftp": "non-web scheme 'ftp'",
    "/to-mailto": "non-web scheme 'mailto'",
    "/to-file": "non-web scheme 'file'",
    "/to-broken": "refused",
}


@dataclass
class Hostile:
    """The running hostile server."""

    port: int
    log: Path

    def url(self, path: str) -> str:
        """URL of a path on the server."""
        return f"http://127.0.0.1:{self.port}{path}"

    def closed(self, path: str, wait: float = 3.0) -> float | None:
        """Seconds the server spent on path before the client hung up (None: not seen)."""
        end = time.monotonic() + wait
        while time.monotonic() < end:
            if self.log.exists():
                for line in self.log.read_text().splitlines():
                    _, seen, seconds = line.split()
                    if seen == path:
                        return float(seconds)
            time.sleep(0.05)
        return None


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hostile]:
    log = tmp_path_factory.mktemp("hostile") / "closed.log"
    proc = subprocess.Popen(
        [sys.executable, str(SERVER), str(log)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        yield Hostile(port, log)
    finally:
        proc.terminate()
        proc.wait(10)


def _fetcher(port: int, timeout: float = TIMEOUT) -> SafeFetcher:
    # Only this one port of the loopback address is allowed (an allow-list entry with a port).
    guard = AddressGuard(StaticResolver({}), parse_networks([f"127.0.0.1:{port}"]))
    return SafeFetcher(guard, FetchLimits(timeout=timeout))


def test_well_behaved_answers_still_work(hostile: Hostile) -> None:
    with _fetcher(hostile.port) as fetcher:
        assert fetcher.fetch(hostile.url("/ok")).body == b"<p>fine</p>\n"
        assert fetcher.fetch(hostile.url("/ok-gzip")).body == b"<p>fine</p>\n"


@pytest.mark.parametrize("path", sorted(HOSTILE))
def test_hostile_answer_fails_permanently_in_bounded_time_and_memory(
    hostile: Hostile, path: str
) -> None:
    with _fetcher(hostile.port) as fetcher:
        tracemalloc.start()
        try:
            started = time.monotonic()
            with pytest.raises(FetchError) as err:
                fetcher.fetch(hostile.url(path))
            elapsed = time.monotonic() - started
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert err.value.permanent, str(err.value)
    assert HOSTILE[path] in str(err.value)
    assert elapsed < TIMEOUT + 1.0
    assert peak < MEMORY_BOUND, f"{path}: peak {peak / MIB:.0f} MiB"


@pytest.mark.parametrize("path", ["/drip-headers", "/drip-body"])
def test_a_dripping_server_has_its_connection_closed_at_the_deadline(
    hostile: Hostile, path: str
) -> None:
    with _fetcher(hostile.port, timeout=1.0) as fetcher, pytest.raises(FetchError):
        fetcher.fetch(hostile.url(path))
    held = hostile.closed(path)
    assert held is not None and held < 2.5  # the server saw the hang-up, not a 169 s hold


def test_peak_memory_of_a_worker_stays_bounded_whatever_the_server_sends(
    hostile: Hostile,
) -> None:
    """A fresh process (like a worker) fetches every hostile path with the production limits;
    its peak resident memory grows by less than 100 MiB over its warmed-up baseline."""
    code = textwrap.dedent(
        f"""
        import json, resource
        from openhotline.capture.fetch import FetchError, FetchLimits, SafeFetcher
        from openhotline.net.guard import AddressGuard, StaticResolver, parse_networks
        guard = AddressGuard(StaticResolver({{}}), parse_networks(["127.0.0.1:{hostile.port}"]))
        out = {{}}
        with SafeFetcher(guard, FetchLimits(timeout={TIMEOUT})) as fetcher:
            fetcher.fetch("http://127.0.0.1:{hostile.port}/ok-gzip")  # warm up every code path
            base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            for path in {sorted(HOSTILE)!r}:
                try:
                    fetcher.fetch("http://127.0.0.1:{hostile.port}" + path)
                    out[path] = "fetched"
                except FetchError as exc:
                    out[path] = str(exc)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(json.dumps({{"grew_kib": peak - base, "results": out}}))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    for path, expected in HOSTILE.items():
        assert expected in report["results"][path]
    assert report["grew_kib"] * 1024 < MEMORY_BOUND, f"grew {report['grew_kib'] // 1024} MiB"


def test_a_capture_of_many_large_items_keeps_its_memory_bounded(hostile: Hostile) -> None:
    """Ten 20 MiB "images" on one page: the case byte budget (64 MiB by default) stops the
    capture from holding them all; a fresh process grows by less than 100 MiB."""
    code = textwrap.dedent(
        f"""
        import json, resource
        from openhotline.capture.crawler import CrawlLimits, crawl
        from openhotline.capture.fetch import FetchLimits, SafeFetcher
        from openhotline.net.guard import AddressGuard, StaticResolver, parse_networks
        guard = AddressGuard(StaticResolver({{}}), parse_networks(["127.0.0.1:{hostile.port}"]))
        with SafeFetcher(guard, FetchLimits()) as fetcher:
            fetcher.fetch("http://127.0.0.1:{hostile.port}/ok-gzip")
            base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            result = crawl(fetcher, "http://127.0.0.1:{hostile.port}/many-big", CrawlLimits())
            kept = sum(len(m.body) for m in result.media)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(json.dumps({{"grew_kib": peak - base, "kept": kept, "items": len(result.media),
                          "skipped": result.skipped}}))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["items"] == 3 and report["kept"] <= 64 * MIB
    assert any("case byte limit" in s for s in report["skipped"])
    assert report["grew_kib"] * 1024 < MEMORY_BOUND, f"grew {report['grew_kib'] // 1024} MiB"


def test_a_crawl_of_a_page_full_of_traps_ends_within_the_case_deadline(
    hostile: Hostile,
) -> None:
    """Every trap linked from one page: the crawl ends by the case deadline and says why
    each one was skipped."""
    with _fetcher(hostile.port, timeout=1.0) as fetcher:
        started = time.monotonic()
        result = crawl(fetcher, hostile.url("/traps"), CrawlLimits(case_seconds=4.0))
        elapsed = time.monotonic() - started
    assert elapsed < 4.0 + 1.5
    assert result.media == []
    assert result.skipped  # each trap (or the case deadline) is accounted for
    assert any("stacked content encodings" in s for s in result.skipped)


@pytest.mark.parametrize(
    ("path", "reason"),
    [("/to-javascript", "non-web scheme 'javascript'"), ("/drip-body", "time limit")],
)
def test_capture_job_records_a_permanent_failure_on_the_case(
    settings: Settings,
    session_factory: sessionmaker[Session],
    hostile: Hostile,
    path: str,
    reason: str,
) -> None:
    """A redirect to javascript: or a dripping server fails the capture once, for good:
    a case event says why and the case goes to triage (it used to stay `new`)."""
    s = settings.model_copy(
        update={
            "crawler_allow_networks": [f"127.0.0.1:{hostile.port}"],
            "crawler_timeout_seconds": 1.0,
        }
    )
    with transaction(session_factory) as session:
        submit_report(session, ReportIn(urls=[hostile.url(path)]))
    rt = build_services(s)
    started = time.monotonic()
    build_queue(rt, name=f"t{uuid.uuid4().hex[:8]}").drain()
    assert time.monotonic() - started < 10
    rt.close()
    with session_factory() as session:
        case = session.execute(select(Case)).scalar_one()
        assert case.status == CaseStatus.TRIAGE
        events = session.execute(select(CaseEvent).where(CaseEvent.kind == "capture_failed"))
        assert reason in (events.scalar_one().detail or "")
        job = session.execute(select(Job).where(Job.kind == "capture.case")).scalar_one()
        assert job.attempts == 1  # permanent: not retried


class _UnreachableBackend(httpcore.NetworkBackend):
    """A host that never accepts the connection (packets dropped): no traffic at all."""

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, **_: Any) -> Any:
        time.sleep(timeout or 0)
        raise httpcore.ConnectTimeout("timed out")


def test_a_host_that_never_accepts_the_connection_stays_a_transient_failure() -> None:
    """Only a server that answers too slowly is permanent; one that is down may come back."""
    guard = AddressGuard(StaticResolver({"down.test": ["93.184.216.34"]}))
    limits = FetchLimits(timeout=0.3)
    with SafeFetcher(guard, limits, network=_UnreachableBackend()) as fetcher:
        started = time.monotonic()
        with pytest.raises(FetchError) as err:
            fetcher.fetch("http://down.test/")
    assert not err.value.permanent
    assert time.monotonic() - started < 1.0
