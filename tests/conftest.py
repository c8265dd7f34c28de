"""Shared fixtures: a migrated database per test (SQLite, or PostgreSQL when configured).

Set OPENHOTLINE_TEST_DATABASE_URL=postgresql://user@host:port/db to run the database tests
against PostgreSQL: a throw-away database is created on that server for the session.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from openhotline.app import create_app
from openhotline.clock import SYSTEM_CLOCK, Clock, FixedClock
from openhotline.config import Settings, hash_api_key
from openhotline.db import Base, make_engine, make_sessionmaker
from openhotline.migrate import upgrade

pytest_plugins = ["tests.console_fixtures"]

PARTNER_KEY = "test-partner-key-0123456789"
PG_ENV = "OPENHOTLINE_TEST_DATABASE_URL"


def _pg_admin_url(url: str) -> str:
    return url if "+psycopg" in url else url.replace("postgresql://", "postgresql+psycopg://", 1)


@pytest.fixture(scope="session")
def db_backend() -> str:
    """Which backend this run tests: 'postgresql' when configured, else 'sqlite'."""
    return "postgresql" if os.environ.get(PG_ENV) else "sqlite"


@pytest.fixture(scope="session")
def _migrated(tmp_path_factory: pytest.TempPathFactory, db_backend: str) -> Iterator[str]:
    """Migrate once per session: a template SQLite file, or a fresh PostgreSQL database."""
    if db_backend == "sqlite":
        template = tmp_path_factory.mktemp("dbtemplate") / "template.db"
        url = f"sqlite:///{template}"
        upgrade(url)
        yield url
        return
    base = os.environ[PG_ENV]
    name = f"openhotline_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(_pg_admin_url(base), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = base.rsplit("/", 1)[0] + "/" + name
    upgrade(url)
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def db_url(_migrated: str, tmp_path: Path, db_backend: str) -> Iterator[str]:
    """A migrated, empty database for one test."""
    if db_backend == "sqlite":
        path = tmp_path / "openhotline.db"
        shutil.copyfile(_migrated.removeprefix("sqlite:///"), path)
        yield f"sqlite:///{path}"
        return
    engine = make_engine(_migrated)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()
    yield _migrated


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on the test database."""
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def clock(request: pytest.FixtureRequest) -> Clock:
    """The clock of a test's sessions and apps: the real one, or fixed by parametrizing.

    @pytest.mark.parametrize("clock", ["2026-03-02T01:30:00+00:00"], indirect=True)
    """
    at: str | None = getattr(request, "param", None)
    return FixedClock(datetime.fromisoformat(at)) if at else SYSTEM_CLOCK


@pytest.fixture
def session_factory(engine: Engine, clock: Clock) -> sessionmaker[Session]:
    """A session factory on the test database (its sessions read `clock`)."""
    return make_sessionmaker(engine, clock)


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    """Settings pointing at the test database, with a known partner key, no rate limit."""
    return Settings(
        data_dir=tmp_path / "var",
        database_url=db_url,
        partner_api_key_hashes=[hash_api_key(PARTNER_KEY)],
        public_rate_per_minute=0,
    )


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """An HTTP client on a fresh app and database."""
    with TestClient(create_app(settings)) as c:
        yield c


@pytest.fixture
def partner_headers() -> dict[str, str]:
    """Authorization headers of the test partner."""
    return {"Authorization": f"Bearer {PARTNER_KEY}"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test that touches the database, so PostgreSQL runs can select them."""
    for item in items:
        if "db_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.db)


@pytest.fixture
def factory(session_factory: sessionmaker[Session]) -> sessionmaker[Session]:
    """The matching and media tests' name for session_factory."""
    return session_factory


@pytest.fixture
def api(settings: Settings) -> Iterator[TestClient]:
    """A client already authenticated as a partner with the static key "k"."""
    keyed = settings.model_copy(update={"partner_api_key_hashes": [hash_api_key("k")]})
    with TestClient(create_app(keyed)) as client:
        client.headers["Authorization"] = "Bearer k"
        yield client
