"""A generated year of hotline history, filled through the real services under a FixedClock.

Returns the ground truth kept while generating, so tests compare statistics against counts
made here, not against another query of the same tables.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from openhotline.assessment.models import Assessment, AssessmentKind, ItemReview, ReviewState
from openhotline.blocklist import service as blocklist
from openhotline.cases.models import Case, CaseStatus
from openhotline.clock import FixedClock
from openhotline.media.models import CaseItem, Item, ItemStatus
from openhotline.reporting.models import Report, ReportURL
from openhotline.reporting.schemas import ReportIn
from openhotline.reporting.service import submit_report
from openhotline.takedown.models import Notice
from openhotline.takedown.routing import RoutingRules
from openhotline.takedown.service import SendRecord, mark_removed, record_send, route_case
from openhotline.trace.service import TraceResult, store_trace
from tests.case_support import walk_to

START = datetime.fromisoformat("2026-01-01T00:00:00+00:00")
# host -> (country, network); DE has a partner hotline, GB is the hotline's own country.
HOSTS = {
    "a.host.test": ("US", "NetA"),
    "b.host.test": ("US", "NetB"),
    "c.host.test": ("NL", "NetC"),
    "d.host.test": ("DE", "NetD"),
    "e.host.test": ("GB", "NetE"),
    "f.host.test": ("FR", "NetF"),
    "g.host.test": ("RU", "NetG"),
    "h.host.test": ("JP", "NetH"),  # rare: few cases, suppressed when published
}
WEIGHTS = [30, 25, 15, 10, 8, 6, 4, 0.2]
RULES = RoutingRules(own_countries=frozenset({"GB"}), partner_hotlines={"DE": "hotline-de"})


@dataclass
class Truth:
    """What was generated, counted as it was made."""

    sources: dict[str, int] = field(default_factory=dict)
    created: dict[int, datetime] = field(default_factory=dict)
    host: dict[int, str] = field(default_factory=dict)
    assessed: dict[int, datetime] = field(default_factory=dict)
    actioned: set[int] = field(default_factory=set)
    actioned_at: dict[int, datetime] = field(default_factory=dict)
    traced: set[int] = field(default_factory=set)
    noticed: dict[int, datetime] = field(default_factory=dict)
    notices_sent: int = 0
    removed: dict[int, datetime] = field(default_factory=dict)
    items: dict[int, tuple[str, bool]] = field(default_factory=dict)  # id -> (class, known)
    item_created: dict[int, datetime] = field(default_factory=dict)
    item_fields: dict[int, dict[str, str]] = field(default_factory=dict)  # as published
    appeals: dict[str, int] = field(default_factory=dict)


BATCH = 250
CHOICES = {
    "age_band": ["infant/toddler", "prepubescent", "pubescent", "unclear", None],
    "sex": ["female", "male", "both", "unclear", None],
    "site_type": ["image host", "file host", "forum", "website", None],
}


def fill(factory: sessionmaker[Session], clock: FixedClock, n: int, seed: int = 7) -> Truth:
    """Generate n cases over 300 days across the hosts above.

    Every step goes through the services (report intake, the case lifecycle, tracing,
    routing, notice sends, removal); cases are written BATCH to a transaction, each with
    the clock set to its own moments, so thousands of cases take seconds.
    """
    rng = random.Random(seed)
    truth = Truth()
    hosts = list(HOSTS)
    for first in range(0, n, BATCH):
        with factory.begin() as s:
            for i in range(first, min(first + BATCH, n)):
                _one_case(s, clock, rng, truth, i, rng.choices(hosts, WEIGHTS)[0])
    _appeals(factory, clock, rng, truth)
    return truth


def _one_case(
    s: Session, clock: FixedClock, rng: random.Random, truth: Truth, i: int, host: str
) -> None:
    clock.set(START + timedelta(minutes=rng.randrange(300 * 24 * 60)))
    source = "public" if rng.random() < 0.8 else "partner:platform-x"
    receipt = submit_report(s, ReportIn(urls=[f"http://{host}/p{i}"]), source=source)
    cid = s.execute(
        select(ReportURL.case_id)
        .join(Report, Report.id == ReportURL.report_id)
        .where(Report.receipt == receipt)
    ).scalar_one()
    case = s.get(Case, cid)
    assert case is not None
    truth.sources[source] = truth.sources.get(source, 0) + 1
    truth.created[cid] = clock.now()
    truth.host[cid] = host
    fate = rng.random()
    if fate < 0.15:
        return  # still new
    clock.advance(timedelta(hours=rng.uniform(0.5, 200)))
    if fate < 0.3:
        walk_to(s, case, CaseStatus.CLOSED)  # not illegal
        truth.assessed[cid] = clock.now()
        return
    walk_to(s, case, CaseStatus.ASSESSED)
    truth.assessed[cid] = clock.now()
    _items(s, cid, i, rng, truth, clock.now())
    clock.advance(timedelta(minutes=rng.uniform(1, 120)))
    country, network = HOSTS[host]
    trace = store_trace(
        s,
        cid,
        TraceResult(
            host=host, ip="192.0.2.1", country=country, as_org=network, abuse_email=f"abuse@{host}"
        ),
    )
    route_case(s, case, trace, RULES, {})
    truth.traced.add(cid)
    truth.actioned.add(cid)
    truth.actioned_at[cid] = clock.now()
    notice = s.execute(select(Notice).where(Notice.case_id == cid)).scalar_one_or_none()
    if notice is None:
        return
    for attempt in range(rng.choice([1, 1, 2])):
        clock.advance(timedelta(hours=rng.uniform(0.1, 30) if attempt == 0 else 24))
        record_send(s, SendRecord(notice.id, [], 0, f"<m{cid}.{attempt}@t>"), 24)
        truth.noticed.setdefault(cid, clock.now())
        truth.notices_sent += 1
    if rng.random() < 0.7:
        clock.advance(timedelta(hours=rng.expovariate(1 / 60)))
        mark_removed(s, case, "gone")
        truth.removed[cid] = clock.now()


def _items(s: Session, cid: int, i: int, rng: random.Random, truth: Truth, now: datetime) -> None:
    """One or two items per assessed case: known ones matched a bank (auto-assessed)."""
    for j in range(rng.choice([1, 1, 2])):
        data = f"generated-{i}-{j}".encode()
        known = rng.random() < 0.4
        cls = rng.choice(["category A", "category B", "baseline"])
        item = Item(
            sha256=hashlib.sha256(data).hexdigest(),
            md5=hashlib.md5(data).hexdigest(),  # noqa: S324 - test identity only
            sha1=hashlib.sha1(data).hexdigest(),  # noqa: S324
            size=len(data),
            status=ItemStatus.AUTO_ASSESSED if known else ItemStatus.ASSESSED,
            created_at=now,
        )
        s.add(item)
        s.flush()
        s.add(CaseItem(case_id=cid, item_id=item.id))
        s.add(
            ItemReview(
                item_id=item.id,
                state=ReviewState.DECIDED,
                classification=cls,
                illegal=True,
                automatic=known,
            )
        )
        values: dict[str, object] = {
            name: v for name, options in CHOICES.items() if (v := rng.choice(options))
        }
        if rng.random() < 0.9:  # some grades predate the flags: "not recorded"
            values["commercial"] = rng.random() < 0.2
            values["disguised"] = rng.random() < 0.05
        # A superseded grade first (another class), then the one the decision agrees with.
        other = "category B" if cls != "category B" else "baseline"
        for grade_cls, grade_values in ((other, {"age_band": "unclear"}), (cls, values)):
            s.add(
                Assessment(
                    item_id=item.id,
                    kind=AssessmentKind.AUTOMATIC if known else AssessmentKind.GRADE,
                    scheme="default",
                    classification=grade_cls,
                    illegal=True,
                    fields=json.dumps(grade_values),
                )
            )
        truth.items[item.id] = (cls, known)
        truth.item_created[item.id] = now
        truth.item_fields[item.id] = {
            name: (
                "not recorded"
                if name not in values
                else ("yes" if values[name] else "no")
                if isinstance(values[name], bool)
                else str(values[name])
            )
            for name in ("age_band", "sex", "site_type", "commercial", "disguised")
        }


def _appeals(
    factory: sessionmaker[Session], clock: FixedClock, rng: random.Random, truth: Truth
) -> None:
    """Appeals against some URLs; about half decided."""
    clock.set(START + timedelta(days=301))
    ids = []
    with factory.begin() as s:
        for n in range(12):
            ids.append(blocklist.file_appeal(s, f"http://a.host.test/p{n}", "removed", None).id)
    with factory.begin() as s:
        for appeal_id in ids[:7]:
            blocklist.decide_appeal(s, appeal_id, rng.random() < 0.5, "checked", actor="user:sue")
            status = str(s.get(blocklist.Appeal, appeal_id).status)  # type: ignore[union-attr]
            truth.appeals[status] = truth.appeals.get(status, 0) + 1
    truth.appeals["pending"] = 5
