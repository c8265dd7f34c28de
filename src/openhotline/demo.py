"""A small synthetic demo dataset: reports of example.test URLs, nothing real."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from openhotline.reporting import service as reporting
from openhotline.reporting.models import Report
from openhotline.reporting.schemas import ReportIn, Seen

DEMO_SOURCE = "demo"

DEMO_REPORTS = [
    ReportIn(urls=["http://gallery.example.test/album/1"], seen=Seen.IMAGES),
    ReportIn(urls=["HTTP://Gallery.Example.TEST:80/album/./1#top"], seen=Seen.IMAGES),
    ReportIn(
        urls=["https://video.example.test/watch?v=42&utm_source=chat"],
        seen=Seen.VIDEOS,
        child_in_danger=True,
    ),
    ReportIn(urls=["https://forum.example.test/t/123", "https://files.example.test/f/9"]),
    ReportIn(urls=["http://mirror.example.test/a/b/../c"], seen=Seen.LINKS),
]


def load_demo(session: Session) -> int:
    """Insert the demo reports once; return how many were created."""
    existing = session.execute(
        select(func.count()).select_from(Report).where(Report.source == DEMO_SOURCE)
    ).scalar_one()
    if existing:
        return 0
    for data in DEMO_REPORTS:
        reporting.submit_report(session, data, source=DEMO_SOURCE)
    return len(DEMO_REPORTS)
