"""A report that got its 201 survives kill -9 (SQLite and PostgreSQL): of the only server
process, or of one of two server processes while the other keeps serving."""

from __future__ import annotations

import os
import signal
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


@pytest.mark.parametrize("workers", [1, 2])
def test_kill9_during_load_loses_no_acknowledged_report(
    db_url: str, tmp_path: Path, session_factory: sessionmaker[Session], workers: int
) -> None:
    server = ServerProcess(db_url, tmp_path / "var", workers=workers)
    server.start(timeout=120)
    acknowledged: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def client(n: int) -> None:
        with httpx.Client(base_url=server.base, timeout=10) as http:
            i = 0
            while not stop.is_set() and i < 20000:
                i += 1
                try:
                    r = http.post("/api/v1/reports", json={"urls": [f"http://load.test/{n}/{i}"]})
                except httpx.HTTPError:
                    if workers == 1:
                        return  # the server is gone
                    continue  # the killed worker's connection; the next one reaches the other
                if r.status_code == 201:
                    with lock:
                        acknowledged.append(r.json()["receipt"])

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    after_kill = 0
    try:
        deadline = time.monotonic() + 60
        while len(acknowledged) < 300 and time.monotonic() < deadline:
            time.sleep(0.05)
        if workers == 1:
            server.kill9()  # mid-load: requests are in flight
        else:
            victim = server.worker_pids()[0]
            os.kill(victim, signal.SIGKILL)  # one of two, mid-load
            at_kill = len(acknowledged)
            deadline = time.monotonic() + 30
            while len(acknowledged) < at_kill + 300 and time.monotonic() < deadline:
                time.sleep(0.05)
            after_kill = len(acknowledged) - at_kill
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
    assert len(acknowledged) >= 300, "load did not get going"
    if workers == 2:
        # The other process went on serving (uvicorn also starts a new one).
        assert after_kill >= 300, f"only {after_kill} reports acknowledged after the kill"
        server.kill9()  # then the whole server, as in the one-process case

    server.start(timeout=120)  # restart on the same database (SQLite recovers its WAL here)
    try:
        with session_factory() as s:
            stored = set(s.execute(select(Report.receipt)).scalars())
        missing = [r for r in acknowledged if normalise_receipt(r) not in stored]
        assert not missing, f"{len(missing)} acknowledged reports lost"
        sample = acknowledged[-1]
        assert httpx.get(f"{server.base}/api/v1/reports/{sample}").json() == {"status": "received"}
    finally:
        server.stop()
