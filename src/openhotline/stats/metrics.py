"""Operational metrics for Prometheus: counts only, never content or identities.

Computed from the database at scrape time (no per-process counters to lose on restart):
reports received (a counter: Prometheus' rate() gives the intake rate), cases by status,
items waiting for review, jobs by kind and state (failures included), the notice backlog
and the size of the hash index (active bank entries per hash type).
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from openhotline import db
from openhotline.assessment.models import ItemReview, ReviewState
from openhotline.cases.models import Case, CaseStatus
from openhotline.jobs.models import Job, JobStatus
from openhotline.matching.models import BankEntry
from openhotline.reporting.models import Report
from openhotline.takedown.models import Notice, NoticeStatus

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _DatabaseCollector(Collector):
    def __init__(self, factory: sessionmaker[Session]) -> None:
        self.factory = factory

    def collect(self) -> Iterator[Metric]:
        with self.factory() as s:
            yield from _families(s)


def _families(s: Session) -> Iterator[Metric]:
    reports = CounterMetricFamily("openhotline_reports_received", "Reports received, ever.")
    reports.add_metric([], s.execute(select(func.count(Report.id))).scalar_one())
    yield reports

    cases = GaugeMetricFamily("openhotline_cases", "Cases by status.", labels=["status"])
    by_status = dict(
        s.execute(select(Case.status, func.count(Case.id)).group_by(Case.status)).all()
    )
    for status in CaseStatus:
        cases.add_metric([status.value], by_status.get(status, 0))
    yield cases

    review = GaugeMetricFamily(
        "openhotline_review_queue_items", "Items waiting for analysts.", labels=["state"]
    )
    by_state = dict(
        s.execute(
            select(ItemReview.state, func.count(ItemReview.item_id)).group_by(ItemReview.state)
        ).all()
    )
    for state in (ReviewState.OPEN, ReviewState.CONFIRMING, ReviewState.DISPUTED):
        review.add_metric([state.value], by_state.get(state, 0))
    yield review

    jobs = GaugeMetricFamily(
        "openhotline_jobs", "Jobs by kind and state.", labels=["kind", "state"]
    )
    failed = CounterMetricFamily(
        "openhotline_job_failures", "Jobs that gave up after their attempts.", labels=["kind"]
    )
    for kind, job_status, n in s.execute(
        select(Job.kind, Job.status, func.count(Job.id)).group_by(Job.kind, Job.status)
    ).all():
        jobs.add_metric([kind, str(job_status)], n)
        if job_status == JobStatus.FAILED:
            failed.add_metric([kind], n)
    yield jobs
    yield failed

    now = db.now(s)
    backlog = GaugeMetricFamily(
        "openhotline_notice_backlog", "Notices due now or held.", labels=["state"]
    )
    backlog.add_metric(
        ["due"],
        s.execute(
            select(func.count(Notice.id)).where(
                Notice.status == NoticeStatus.QUEUED, Notice.next_due_at <= now
            )
        ).scalar_one(),
    )
    backlog.add_metric(
        ["held"],
        s.execute(
            select(func.count(Notice.id)).where(Notice.status == NoticeStatus.HELD)
        ).scalar_one(),
    )
    yield backlog

    index = GaugeMetricFamily(
        "openhotline_index_entries", "Active hash bank entries.", labels=["hash_type"]
    )
    for hash_type, n in s.execute(
        select(BankEntry.hash_type, func.count(BankEntry.id))
        .where(BankEntry.removed_at.is_(None))
        .group_by(BankEntry.hash_type)
    ).all():
        index.add_metric([hash_type], n)
    yield index


def render(factory: sessionmaker[Session]) -> bytes:
    """The metrics in the Prometheus text exposition format."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_DatabaseCollector(factory))
    return generate_latest(registry)
