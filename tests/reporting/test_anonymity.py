"""The running server logs no client address or user agent for public reports."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from sqlalchemy import inspect, select
from sqlalchemy.orm import Session, sessionmaker

from openhotline.reporting.models import Report
from tests.serverproc import ServerProcess

pytestmark = pytest.mark.slow

UA = "AnonCheckAgent/1.2.3"
XFF = "198.51.100.23"


def test_server_logs_and_tables_hold_no_client_data(
    db_url: str, tmp_path: Path, session_factory: sessionmaker[Session]
) -> None:
    server = ServerProcess(db_url, tmp_path / "var")
    server.start()
    try:
        headers = {"User-Agent": UA, "X-Forwarded-For": XFF, "X-Real-IP": XFF}
        with httpx.Client(base_url=server.base, headers=headers) as http:
            r = http.post("/api/v1/reports", json={"urls": ["http://anon.test/1"]})
            assert r.status_code == 201
            receipt = r.json()["receipt"]
            assert http.get(f"/api/v1/reports/{receipt}").status_code == 200
            form = http.post("/report", data={"urls": "http://anon.test/2"})
            assert form.status_code == 303  # redirect after post, to the receipt page
            form_receipt = form.headers["location"].split("receipt=")[1]
            assert http.get(form.headers["location"]).status_code == 200
            assert "set-cookie" not in r.headers
    finally:
        server.stop()
    log = server.log.read_text()
    assert UA not in log and XFF not in log
    assert receipt not in log and form_receipt not in log  # nor the receipt page's query
    # No "client:port" pairs as uvicorn's access log would print them.
    assert not re.search(r"127\.0\.0\.1:\d+ - ", log)
    with session_factory() as s:
        cols = [c["name"] for c in inspect(s.get_bind()).get_columns("reports")]
        rows = s.execute(select(Report)).scalars().all()
        values = " ".join(str(getattr(r, c)) for r in rows for c in cols)
    assert not [c for c in cols if re.search(r"(^|_)(ip|addr|address)($|_)|agent|cookie", c)]
    assert UA not in values and XFF not in values and "127.0.0.1" not in values
