"""The rendered capture job: render a case's URL in Chromium, then store what it produced."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from openhotline.capture import recapture, service
from openhotline.capture.crawler import CapturedMedia
from openhotline.capture.fetch import FetchError
from openhotline.capture.filter import filter_media
from openhotline.capture.render import RendererUnavailableError, RenderLimits, render
from openhotline.capture.tasks import make_fetcher, matcher, media_filter
from openhotline.cases.models import Case, CaseEventKind
from openhotline.cases.service import record_event
from openhotline.db import transaction

if TYPE_CHECKING:
    from openhotline.bootstrap import Services


def render_limits(services: Services) -> RenderLimits:
    """Budgets of one rendered capture, from settings."""
    s = services.settings
    return RenderLimits(
        seconds=s.render_seconds, max_bytes=s.render_max_bytes, max_requests=s.render_max_requests
    )


def render_case(services: Services, payload: dict[str, Any]) -> None:
    """Render the case's URL (no transaction open meanwhile) and store the evidence."""
    case_id = int(payload["case_id"])
    with services.sessionmaker() as session:
        case = session.get(Case, case_id)
        if case is None:
            return
        url = case.canonical_url
    try:
        with make_fetcher(services) as fetcher:
            result = render(
                fetcher,
                url,
                render_limits(services),
                clock=services.clock,
                executable=services.settings.render_chromium_path,
            )
    except (FetchError, RendererUnavailableError) as exc:
        with transaction(services.sessionmaker) as session:
            record_event(
                session,
                case_id,
                CaseEventKind.CAPTURE_FAILED,
                actor=recapture.ACTOR,
                detail=f"rendered capture: {exc}"[:2000],
            )
        return
    filtered = filter_media(result.media, media_filter(services))
    # The screenshot is evidence whatever its size: it skips the icon filter.
    shot = CapturedMedia(f"screenshot: {result.final_url or url}", "image/png", result.screenshot)
    hashed = [service.hash_media(m) for m in [*filtered.kept, shot]]  # CPU outside the transaction
    with transaction(services.sessionmaker) as session:
        case = session.get(Case, case_id)
        if case is not None:
            recapture.store_render(
                session,
                case,
                result,
                hashed,
                filtered,
                services.media_store,
                matcher(services),
            )
