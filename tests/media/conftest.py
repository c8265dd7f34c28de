"""Fixtures of the matching tests: a migrated SQLite database and an API client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from openhotline.app import create_app
from openhotline.config import Settings, hash_api_key
from openhotline.db import make_engine, make_sessionmaker
from openhotline.migrate import upgrade


@pytest.fixture
def factory(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    upgrade(url)
    engine = make_engine(url)
    yield make_sessionmaker(engine)
    engine.dispose()


@pytest.fixture
def api(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path, partner_api_key_hashes=[hash_api_key("k")])
    upgrade(settings.resolved_database_url())
    with TestClient(create_app(settings)) as client:
        client.headers["Authorization"] = "Bearer k"
        yield client
