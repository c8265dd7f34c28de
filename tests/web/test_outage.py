"""Database down: 503 with Retry-After (JSON or a page), one log line per state change, recovery.

SQLite: the database's directory is moved away with the pool emptied (new connections cannot
open the file), then moved back. PostgreSQL: the test database stops accepting connections and
the app's connections are terminated, then connections are allowed again.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from openhotline.app import create_app
from openhotline.config import Settings


def _sqlite_outage(settings: Settings, tmp_path: Path) -> tuple[Settings, Callable[[bool], None]]:
    folder = tmp_path / "dbdir"
    folder.mkdir()
    source = Path(settings.database_url.removeprefix("sqlite:///"))
    shutil.copyfile(source, folder / "openhotline.db")
    moved = tmp_path / "dbdir-away"

    def set_down(down: bool) -> None:
        if down:
            folder.rename(moved)
        else:
            moved.rename(folder)

    return settings.model_copy(
        update={"database_url": f"sqlite:///{folder / 'openhotline.db'}"}
    ), set_down


def _pg_outage(settings: Settings) -> Callable[[bool], None]:
    url = make_url(settings.database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    name = url.database
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")

    def set_down(down: bool) -> None:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {str(not down).lower()}'))
            if down:
                conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :name AND pid <> pg_backend_pid()"
                    ),
                    {"name": name},
                )

    return set_down


def test_database_outage_answers_503_logs_twice_and_recovers(
    settings: Settings, tmp_path: Path, db_backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    if db_backend == "sqlite":
        settings, set_down = _sqlite_outage(settings, tmp_path)
    else:
        set_down = _pg_outage(settings)
    app = create_app(settings.model_copy(update={"session_cookie_secure": False}))
    engine = app.state.services.engine
    with TestClient(app, raise_server_exceptions=False) as client:
        created = client.post("/api/v1/reports", json={"urls": ["https://example.org/1"]})
        assert created.status_code == 201, created.text
        receipt = created.json()["receipt"]
        caplog.clear()
        caplog.set_level(logging.INFO, logger="openhotline.db")
        set_down(True)
        engine.dispose()  # SQLite: open connections would keep the moved file
        try:
            for _ in range(5):
                r = client.get(f"/api/v1/reports/{receipt}")
                assert r.status_code == 503, r.text
                assert int(r.headers["Retry-After"]) >= 1
                assert "temporarily unavailable" in r.json()["error"]
                r = client.post("/api/v1/reports", json={"urls": ["https://example.org/2"]})
                assert r.status_code == 503, r.text
                assert r.headers["Retry-After"]
                page = client.get("/console/login", headers={"accept": "text/html"})
                assert page.status_code == 503
                assert page.headers["content-type"].startswith("text/html")
                assert "try again" in page.text
        finally:
            set_down(False)
        # Back without a restart.
        assert client.get(f"/api/v1/reports/{receipt}").status_code == 200
        r = client.post("/api/v1/reports", json={"urls": ["https://example.org/3"]})
        assert r.status_code == 201, r.text
    lines = [rec for rec in caplog.records if rec.name == "openhotline.db"]
    assert [rec.getMessage().split(":")[0].split(" after")[0] for rec in lines] == [
        "database unavailable",
        "database available again",
    ], [rec.getMessage() for rec in lines]
    assert not any(rec.exc_info for rec in caplog.records)
