"""Background jobs of reporting: the one feedback e-mail to a consenting reporter."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from openhotline.db import transaction
from openhotline.jobs import service as jobs
from openhotline.reporting.feedback import (
    FEEDBACK_JOB,
    feedback_due,
    feedback_message,
    mark_feedback_sent,
)

if TYPE_CHECKING:
    from openhotline.bootstrap import Services


def send_feedback(services: Services, payload: dict[str, Any]) -> None:
    """Job: e-mail one reporter, then erase the address (a failed send is retried)."""
    report_id = int(payload["report_id"])
    s = services.settings
    with services.sessionmaker() as session:
        message = feedback_message(
            session,
            report_id,
            sender=s.notice_from,
            hotline_name=s.hotline_name,
            language=s.reporter_feedback_language,
        )
    if message is None:
        return
    services.mailer.send(message)
    with transaction(services.sessionmaker) as session:
        mark_feedback_sent(session, report_id)


def enqueue_feedback(services: Services) -> None:
    """Tick: queue one feedback job per report whose cases are all actioned or closed."""
    with transaction(services.sessionmaker) as session:
        for report_id in feedback_due(session):
            jobs.enqueue(
                session, FEEDBACK_JOB, {"report_id": report_id}, dedupe_key=f"feedback:{report_id}"
            )
