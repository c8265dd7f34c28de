"""One public rate limit for the whole server, however many processes `serve` runs."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from openhotline.web import ratelimit
from openhotline.web.ratelimit import SharedTokenBucketLimiter, TokenBucketLimiter, make_limiter
from tests.serverproc import ServerProcess

pytestmark = pytest.mark.skipif(os.name != "posix", reason="the shared table uses flock and mmap")


def test_two_processes_views_of_the_table_share_each_clients_bucket(tmp_path: Path) -> None:
    """Two limiters on one table (as two processes have) draw on the same bucket."""
    path = SharedTokenBucketLimiter.create(tmp_path)
    first = SharedTokenBucketLimiter(path, per_minute=60, burst=3)
    second = SharedTokenBucketLimiter(path, per_minute=60, burst=3)
    assert first.allow("203.0.113.7")
    assert second.allow("203.0.113.7")
    assert first.allow("203.0.113.7")
    # The burst of 3 is spent across both: neither process lets a fourth through.
    assert second.take("203.0.113.7") > 0
    assert first.take("203.0.113.7") > 0
    # Another client has its own bucket.
    assert second.allow("198.51.100.1")
    first.close()
    second.close()


def test_the_table_holds_no_address(tmp_path: Path) -> None:
    """Only salted hashes are stored: the address's text and bytes are nowhere in the file."""
    path = SharedTokenBucketLimiter.create(tmp_path)
    limiter = SharedTokenBucketLimiter(path, per_minute=60, burst=3)
    limiter.take("203.0.113.77")
    raw = path.read_bytes()
    assert b"203.0.113.77" not in raw
    assert bytes([203, 0, 113, 77]) not in raw
    limiter.close()


def test_a_full_probe_window_evicts_the_longest_idle_client(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With every slot taken, a new client takes the idlest slot instead of failing."""
    monkeypatch.setattr(ratelimit, "SHARED_SLOTS", 4)
    path = SharedTokenBucketLimiter.create(tmp_path)
    limiter = SharedTokenBucketLimiter(path, per_minute=60, burst=1)
    clients = [f"192.0.2.{i}" for i in range(12)]
    for client in clients:
        assert limiter.allow(client)  # each new client starts with a full bucket
    # The most recent client is still remembered (and out of tokens).
    assert limiter.take(clients[-1]) > 0
    limiter.close()


def test_a_file_that_is_not_a_table_is_refused(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus"
    bogus.write_bytes(b"x" * 100)
    with pytest.raises(ValueError, match="not a rate-limit table"):
        SharedTokenBucketLimiter(bogus, per_minute=60, burst=3)


def test_one_process_keeps_its_buckets_in_memory() -> None:
    assert isinstance(make_limiter(60, 3, ""), TokenBucketLimiter)


@pytest.mark.slow
def test_two_server_processes_enforce_one_limit(db_url: str, tmp_path: Path) -> None:
    """`serve --workers 2`: a client on fresh connections gets the burst once, not twice."""
    server = ServerProcess(
        db_url,
        tmp_path / "var",
        extra_env={"OPENHOTLINE_PUBLIC_RATE_PER_MINUTE": "1", "OPENHOTLINE_PUBLIC_RATE_BURST": "4"},
        workers=2,
    )
    shm = Path("/dev/shm")
    before = set(shm.glob("openhotline-rate-*"))
    server.start(timeout=120)
    try:
        tables = set(shm.glob("openhotline-rate-*")) - before
        assert len(tables) == 1, tables
        codes = []
        for i in range(16):
            # A new connection each time, so the kernel spreads them over both processes.
            with httpx.Client(base_url=server.base, timeout=30) as http:
                r = http.post("/api/v1/reports", json={"urls": [f"http://rate.test/{i}"]})
                codes.append(r.status_code)
        assert codes.count(201) == 4, codes
        assert codes.count(429) == 12, codes
    finally:
        server.stop()
    # `serve` deletes its table when it exits.
    assert not any(t.exists() for t in tables)
