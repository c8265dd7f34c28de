"""What the console's home page shows each role: queues, today's work, what is stuck."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from openhotline import db
from openhotline.assessment.models import ItemReview, ReviewState
from openhotline.assessment.queue import queue_counts
from openhotline.cases.models import Case, CaseStatus
from openhotline.jobs import service as jobs
from openhotline.jobs.models import Job, JobStatus
from openhotline.media.models import Item, ItemStatus
from openhotline.reporting.models import Report
from openhotline.takedown.models import Notice, NoticeStatus

# No tick for this long means no worker is running (it ticks every few seconds).
HEARTBEAT_STALE = timedelta(minutes=2)


@dataclass
class Dashboard:
    """The figures of the home page; sections a role may not see stay empty."""

    now: datetime
    queue: dict[str, int] = field(default_factory=dict)
    oldest_waiting: datetime | None = None
    reports_today: int | None = None
    cases_by_status: dict[str, int] = field(default_factory=dict)
    notices_past_due: list[Notice] = field(default_factory=list)
    police_pending: list[Case] = field(default_factory=list)
    failed_jobs: int | None = None
    last_heartbeat: datetime | None = None

    @property
    def worker_missing(self) -> bool:
        """No worker has ticked in the last two minutes."""
        return self.last_heartbeat is None or self.now - self.last_heartbeat > HEARTBEAT_STALE


def build(
    session: Session, *, queue: bool, cases: bool, operations: bool, limit: int = 20
) -> Dashboard:
    """Figures for a role: queue (analysts), cases and takedown, operations (jobs)."""
    now = db.now(session)
    board = Dashboard(now=now, last_heartbeat=jobs.last_heartbeat(session))
    if queue:
        board.queue = {str(k): int(v) for k, v in queue_counts(session).items()}
        board.oldest_waiting = session.execute(
            select(func.min(ItemReview.queued_at))
            .join(Item, Item.id == ItemReview.item_id)
            .where(
                Item.status == ItemStatus.TRIAGE,
                ItemReview.state.in_([ReviewState.OPEN, ReviewState.CONFIRMING]),
            )
        ).scalar()
    if cases:
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
        board.reports_today = int(
            session.execute(
                select(func.count()).select_from(Report).where(Report.created_at >= midnight)
            ).scalar_one()
        )
        rows = session.execute(select(Case.status, func.count()).group_by(Case.status)).all()
        counted = {str(s): int(n) for s, n in rows}
        board.cases_by_status = {s.value: counted.get(s.value, 0) for s in CaseStatus}
        board.notices_past_due = list(
            session.execute(
                select(Notice)
                .where(
                    Notice.status.in_([NoticeStatus.QUEUED, NoticeStatus.PAUSED]),
                    Notice.next_due_at < now,
                )
                .order_by(Notice.next_due_at)
                .limit(limit)
            ).scalars()
        )
        board.police_pending = list(
            session.execute(
                select(Case)
                .where(
                    Case.id.in_(select(Notice.case_id).where(Notice.status == NoticeStatus.HELD))
                )
                .order_by(Case.id)
                .limit(limit)
            ).scalars()
        )
    if operations:
        board.failed_jobs = int(
            session.execute(
                select(func.count()).select_from(Job).where(Job.status == JobStatus.FAILED)
            ).scalar_one()
        )
    return board
