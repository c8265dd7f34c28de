"""Bad pipeline settings are refused at startup with a message naming the value."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from openhotline.config import Settings


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("crawler_allow_networks", ["127.0.0.0/8", "localhost"], "not an IP network: 'localhost'"),
        ("extra_cdn_ranges", {"X": ["10.0.0.0/33"]}, "CDN X: not an IP network"),
        ("jobs_backend", "rabbitmq", "sqlite"),
    ],
)
def test_bad_setting_is_refused(field: str, value: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Settings(**{field: value})


def test_env_json_lists_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENHOTLINE_CRAWLER_ALLOW_NETWORKS", '["127.0.0.0/8"]')
    monkeypatch.setenv("OPENHOTLINE_JOBS_BACKEND", "redis")
    s = Settings()
    assert s.crawler_allow_networks == ["127.0.0.0/8"]
    assert s.jobs_backend == "redis"
