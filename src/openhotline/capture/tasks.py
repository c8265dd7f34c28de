"""Capture jobs: one per new case, queued by the periodic tick."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from openhotline.capture import service
from openhotline.capture.crawler import CrawlLimits, crawl
from openhotline.capture.fetch import FetchError, FetchLimits, SafeFetcher
from openhotline.capture.filter import MediaFilter, filter_media
from openhotline.cases.models import Case
from openhotline.db import transaction
from openhotline.jobs import service as jobs
from openhotline.media.video import VideoLimits

if TYPE_CHECKING:
    from openhotline.bootstrap import Services


def make_fetcher(services: Services) -> SafeFetcher:
    """A safe fetcher with the settings limits and the process's resolver."""
    s = services.settings
    limits = FetchLimits(
        max_bytes=s.crawler_max_media_bytes,
        max_redirects=s.crawler_max_redirects,
        timeout=s.crawler_timeout_seconds,
        deadline_seconds=s.crawler_case_seconds,
    )
    return SafeFetcher(
        services.guard(), limits, user_agent=s.crawler_user_agent, verify=s.crawler_verify_tls
    )


def crawl_limits(services: Services) -> CrawlLimits:
    """Per-case crawl limits from settings."""
    s = services.settings
    return CrawlLimits(
        max_items=s.crawler_max_items,
        max_pages=s.crawler_max_pages,
        max_page_bytes=s.crawler_max_page_bytes,
        max_media_bytes=s.crawler_max_media_bytes,
        case_seconds=s.crawler_case_seconds,
        max_case_bytes=s.crawler_max_case_bytes,
    )


def media_filter(services: Services) -> MediaFilter:
    """The minimum size of captured media that becomes an item (from settings)."""
    s = services.settings
    return MediaFilter(min_side=s.capture_min_image_side, min_bytes=s.capture_min_media_bytes)


def video_limits(services: Services) -> VideoLimits:
    """Bounds of a captured video's frame hashing (from settings)."""
    s = services.settings
    return VideoLimits(
        seconds_per_hash=s.video_seconds_per_hash,
        max_frames=s.video_max_frames,
        max_seconds=s.video_max_seconds,
        max_bytes=s.crawler_max_media_bytes,
    )


def matcher(services: Services) -> service.Matcher:
    """The process's match engine with the banks whose matches count for capture."""
    banks = services.settings.capture_match_banks
    return service.Matcher(services.matcher, frozenset(banks) if banks else None)


def capture_case(services: Services, payload: dict[str, Any]) -> None:
    """Crawl a case's URL (no transaction open meanwhile), then store what was found."""
    case_id = int(payload["case_id"])
    with services.sessionmaker() as session:
        case = session.get(Case, case_id)
        if case is None:
            return
        url = case.canonical_url
    try:
        with make_fetcher(services) as fetcher:
            result = crawl(fetcher, url, crawl_limits(services))
    except FetchError as exc:
        if not exc.permanent and not payload.get("_last_attempt"):
            raise  # transient: the job is retried with back-off
        with transaction(services.sessionmaker) as session:
            failed = session.get(Case, case_id)
            if failed is not None:
                service.capture_failed(session, failed, str(exc))
        return
    filtered = filter_media(result.media, media_filter(services))
    # CPU work outside the transaction.
    limits = video_limits(services)
    hashed = [service.hash_media(m, limits) for m in filtered.kept]
    with transaction(services.sessionmaker) as session:
        case = session.get(Case, case_id)
        if case is not None:
            service.record_filtered(session, case, filtered)
            service.store_capture(
                session, case, result, hashed, services.media_store, matcher(services)
            )


def enqueue_new_cases(services: Services) -> None:
    """Queue one capture job per NEW case (deduplicated by case id)."""
    with transaction(services.sessionmaker) as session:
        for case_id in service.cases_to_capture(session):
            jobs.enqueue(
                session,
                "capture.case",
                {"case_id": case_id},
                dedupe_key=f"capture:{case_id}",
                max_attempts=services.settings.job_max_attempts,
            )
