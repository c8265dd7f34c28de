"""/metrics: Prometheus text with counts only, served to loopback (by default) and nobody else."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from pydantic import ValidationError
from sqlalchemy.orm import Session, sessionmaker

from openhotline.app import create_app
from openhotline.config import Settings
from openhotline.jobs import service as jobs
from openhotline.jobs.models import Job, JobStatus
from openhotline.reporting.schemas import ReportIn
from openhotline.reporting.service import submit_report


def _client(settings: Settings, host: str) -> Iterator[TestClient]:
    with TestClient(create_app(settings), client=(host, 40000)) as c:
        yield c


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_counts_without_content_and_no_rate_limit(
    settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    with session_factory.begin() as s:
        for i in range(3):
            submit_report(
                s,
                ReportIn(
                    urls=[f"http://secret-host.test/{i}"],
                    contact_email="someone@example.test",
                    contact_consent=True,
                ),
            )
        jobs.enqueue(s, "capture.case", {"case_id": 1})
        jobs.enqueue(s, "capture.case", {"case_id": 2})
        s.flush()
        job = s.query(Job).order_by(Job.id).first()
        assert job is not None
        job.status = JobStatus.FAILED
    limited = settings.model_copy(update={"public_rate_per_minute": 2, "public_rate_burst": 1})
    for c in _client(limited, "127.0.0.1"):
        for _ in range(10):  # a scraper is not rate limited
            r = c.get("/metrics")
            assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/plain")
        text = r.text
    assert "secret-host" not in text and "someone@" not in text and "http" not in text
    got = _samples(text)
    assert got[("openhotline_reports_received_total", ())] == 3
    assert got[("openhotline_cases", (("status", "new"),))] == 3
    assert got[("openhotline_jobs", (("kind", "capture.case"), ("state", "pending")))] == 1
    assert got[("openhotline_job_failures_total", (("kind", "capture.case"),))] == 1
    assert got[("openhotline_notice_backlog", (("state", "due"),))] == 0


def test_only_the_configured_networks(settings: Settings) -> None:
    for c in _client(settings, "203.0.113.9"):
        assert c.get("/metrics").status_code == 403
    for c in _client(settings, "::1"):
        assert c.get("/metrics").status_code == 200
    with TestClient(create_app(settings)) as c:  # a client whose address is not an IP
        assert c.get("/metrics").status_code == 403
    wider = settings.model_copy(update={"metrics_allow_networks": ["203.0.113.0/24"]})
    for c in _client(wider, "203.0.113.9"):
        assert c.get("/metrics").status_code == 200
    closed = settings.model_copy(update={"metrics_allow_networks": []})
    for c in _client(closed, "127.0.0.1"):
        assert c.get("/metrics").status_code == 403


def test_a_bad_network_is_a_clear_settings_error() -> None:
    with pytest.raises(ValidationError, match="not a network"):
        Settings(metrics_allow_networks=["localhost"])
