"""Capture jobs: one per new case, queued by the periodic tick."""

from __future__ import annotations

from typing import Any

from openhotline.capture import service
from openhotline.capture.crawler import CrawlLimits, crawl
from openhotline.capture.fetch import FetchError, FetchLimits, SafeFetcher
from openhotline.db import transaction
from openhotline.jobs import service as jobs
from openhotline.jobs.queue import tick_hook
from openhotline.jobs.runtime import Runtime, handler
from openhotline.matching.engine import MatchEngine
from openhotline.reporting.models import Case


def make_fetcher(rt: Runtime) -> SafeFetcher:
    """A safe fetcher with the settings limits and the runtime's resolver."""
    s = rt.settings
    limits = FetchLimits(
        max_bytes=s.crawler_max_media_bytes,
        max_redirects=s.crawler_max_redirects,
        timeout=s.crawler_timeout_seconds,
        deadline_seconds=s.crawler_case_seconds,
    )
    return SafeFetcher(
        rt.guard(), limits, user_agent=s.crawler_user_agent, verify=s.crawler_verify_tls
    )


def crawl_limits(rt: Runtime) -> CrawlLimits:
    """Per-case crawl limits from settings."""
    s = rt.settings
    return CrawlLimits(
        max_items=s.crawler_max_items,
        max_pages=s.crawler_max_pages,
        max_page_bytes=s.crawler_max_page_bytes,
        max_media_bytes=s.crawler_max_media_bytes,
        case_seconds=s.crawler_case_seconds,
        max_case_bytes=s.crawler_max_case_bytes,
    )


def matcher(rt: Runtime) -> service.Matcher:
    """The match engine of this worker (PDQ indexes persist under data_dir/index)."""
    s = rt.settings

    def build() -> service.Matcher:
        engine = MatchEngine(rt.sessionmaker, s.data_dir / "index")
        banks = frozenset(s.capture_match_banks) if s.capture_match_banks else None
        return service.Matcher(engine, banks)

    result: service.Matcher = rt.adapter("matcher", build)
    return result


@handler("capture.case")
def capture_case(rt: Runtime, payload: dict[str, Any]) -> None:
    """Crawl a case's URL (no transaction open meanwhile), then store what was found."""
    case_id = int(payload["case_id"])
    with rt.sessionmaker() as session:
        case = session.get(Case, case_id)
        if case is None:
            return
        url = case.canonical_url
    try:
        with make_fetcher(rt) as fetcher:
            result = crawl(fetcher, url, crawl_limits(rt))
    except FetchError as exc:
        if not exc.permanent and not payload.get("_last_attempt"):
            raise  # transient: the job is retried with back-off
        with transaction(rt.sessionmaker) as session:
            failed = session.get(Case, case_id)
            if failed is not None:
                service.capture_failed(session, failed, str(exc))
        return
    hashed = [service.hash_media(m) for m in result.media]  # CPU work outside the transaction
    with transaction(rt.sessionmaker) as session:
        case = session.get(Case, case_id)
        if case is not None:
            service.store_capture(session, case, result, hashed, rt.media_store(), matcher(rt))


@tick_hook
def enqueue_new_cases(rt: Runtime) -> None:
    """Queue one capture job per NEW case (deduplicated by case id)."""
    with transaction(rt.sessionmaker) as session:
        for case_id in service.cases_to_capture(session):
            jobs.enqueue(
                session,
                "capture.case",
                {"case_id": case_id},
                dedupe_key=f"capture:{case_id}",
                max_attempts=rt.settings.job_max_attempts,
            )
