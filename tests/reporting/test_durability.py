"""A report that got its 201 survives kill -9 of the server (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from openhotline.reporting.models import Report
from openhotline.reporting.receipts import normalise_receipt
from tests.serverproc import ServerProcess

pytestmark = pytest.mark.slow


def test_kill9_during_load_loses_no_acknowledged_report(
    db_url: str, tmp_path: Path, session_factory: sessionmaker[Session]
) -> None:
    server = ServerProcess(db_url, tmp_path / "var")
    server.start()
    acknowledged: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def client(n: int) -> None:
        with httpx.Client(base_url=server.base, timeout=5) as http:
            i = 0
            while not stop.is_set() and i < 5000:
                i += 1
                try:
                    r = http.post("/api/v1/reports", json={"urls": [f"http://load.test/{n}/{i}"]})
                except httpx.HTTPError:
                    return  # the server is gone
                if r.status_code == 201:
                    with lock:
                        acknowledged.append(r.json()["receipt"])

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    try:
        deadline = time.monotonic() + 20
        while len(acknowledged) < 300 and time.monotonic() < deadline:
            time.sleep(0.05)
        server.kill9()  # mid-load: requests are in flight
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
    assert len(acknowledged) >= 300, "load did not get going"

    server.start()  # restart on the same database (SQLite recovers its WAL here)
    try:
        with session_factory() as s:
            stored = set(s.execute(select(Report.receipt)).scalars())
        missing = [r for r in acknowledged if normalise_receipt(r) not in stored]
        assert not missing, f"{len(missing)} acknowledged reports lost"
        sample = acknowledged[-1]
        assert httpx.get(f"{server.base}/api/v1/reports/{sample}").json() == {"status": "received"}
    finally:
        server.stop()
