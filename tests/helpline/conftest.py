"""Fixtures shared by the helpline channel tests: a local provider and app clients."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from openhotline.app import create_app
from openhotline.config import Settings
from tests.helpline.channel_helpers import Receiver, receiver


@pytest.fixture
def provider() -> Iterator[Receiver]:
    """The provider's Messages API, played by a local receiver on 127.0.0.1."""
    with receiver() as r:
        yield r


@pytest.fixture
def clients(app_settings: Settings) -> Iterator[Callable[[], TestClient]]:
    """A factory of clients of one app built from the module's `app_settings`."""
    app = create_app(app_settings)
    made: list[TestClient] = []

    def _new() -> TestClient:
        c = TestClient(app)
        c.__enter__()
        made.append(c)
        return c

    yield _new
    for c in made:
        c.__exit__(None, None, None)
