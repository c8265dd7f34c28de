"""A generated year of hotline history, filled through the real services under a FixedClock.

Returns the ground truth kept while generating, so tests compare statistics against counts
made here, not against another query of the same tables.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from openhotline.assessment.models import ItemReview, ReviewState
from openhotline.blocklist import service as blocklist
from openhotline.cases.models import Case, CaseStatus
from openhotline.clock import FixedClock
from openhotline.media.models import CaseItem, Item, ItemStatus
from openhotline.reporting.models import ReportURL
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
WEIGHTS = [30, 25, 15, 10, 8, 6, 4, 1]
RULES = RoutingRules(own_countries=frozenset({"GB"}), partner_hotlines={"DE": "hotline-de"})


@dataclass
class Truth:
    """What was generated, counted as it was made."""

    sources: dict[str, int] = field(default_factory=dict)
    created: dict[int, datetime] = field(default_factory=dict)
    host: dict[int, str] = field(default_factory=dict)
    assessed: dict[int, datetime] = field(default_factory=dict)
    actioned: set[int] = field(default_factory=set)
    traced: set[int] = field(default_factory=set)
    noticed: dict[int, datetime] = field(default_factory=dict)
    notices_sent: int = 0
    removed: dict[int, datetime] = field(default_factory=dict)
    items: dict[int, tuple[str, bool]] = field(default_factory=dict)  # id -> (class, known)
    appeals: dict[str, int] = field(default_factory=dict)


def fill(factory: sessionmaker[Session], clock: FixedClock, n: int, seed: int = 7) -> Truth:
    """Generate n cases over 300 days across the hosts above."""
    rng = random.Random(seed)
    truth = Truth()
    hosts = list(HOSTS)
    for i in range(n):
        clock.set(START + timedelta(minutes=rng.randrange(300 * 24 * 60)))
        host = rng.choices(hosts, WEIGHTS)[0]
        source = "public" if rng.random() < 0.8 else "partner:platform-x"
        with factory.begin() as s:
            submit_report(s, ReportIn(urls=[f"http://{host}/p{i}"]), source=source)
            case = (
                s.execute(
                    select(Case)
                    .join(ReportURL, ReportURL.case_id == Case.id)
                    .order_by(ReportURL.id.desc())
                )
                .scalars()
                .first()
            )
            assert case is not None
            cid = case.id
        truth.sources[source] = truth.sources.get(source, 0) + 1
        truth.created[cid] = clock.now()
        truth.host[cid] = host
        fate = rng.random()
        if fate < 0.15:
            continue  # still new
        clock.advance(timedelta(hours=rng.uniform(0.5, 200)))
        with factory.begin() as s:
            case = s.get(Case, cid)
            assert case is not None
            if fate < 0.3:
                walk_to(s, case, CaseStatus.CLOSED)  # not illegal
                truth.assessed[cid] = clock.now()
                continue
            walk_to(s, case, CaseStatus.ASSESSED)
            truth.assessed[cid] = clock.now()
            _items(s, cid, i, rng, truth)
        clock.advance(timedelta(minutes=rng.uniform(1, 120)))
        country, network = HOSTS[host]
        with factory.begin() as s:
            case = s.get(Case, cid)
            assert case is not None
            trace = store_trace(
                s,
                cid,
                TraceResult(
                    host=host,
                    ip="192.0.2.1",
                    country=country,
                    as_org=network,
                    abuse_email=f"abuse@{host}",
                ),
            )
            route_case(s, case, trace, RULES, {})
            truth.traced.add(cid)
            truth.actioned.add(cid)
            notice = s.execute(select(Notice).where(Notice.case_id == cid)).scalar_one_or_none()
            notice_id = notice.id if notice else None
        if notice_id is None:
            continue
        for attempt in range(rng.choice([1, 1, 2])):
            clock.advance(timedelta(hours=rng.uniform(0.1, 30) if attempt == 0 else 24))
            with factory.begin() as s:
                record_send(s, SendRecord(notice_id, [], 0, f"<m{cid}.{attempt}@t>"), 24)
            truth.noticed.setdefault(cid, clock.now())
            truth.notices_sent += 1
        if rng.random() < 0.7:
            clock.advance(timedelta(hours=rng.expovariate(1 / 60)))
            with factory.begin() as s:
                case = s.get(Case, cid)
                assert case is not None
                mark_removed(s, case, "gone")
            truth.removed[cid] = clock.now()
    _appeals(factory, clock, rng, truth)
    return truth


def _items(s: Session, cid: int, i: int, rng: random.Random, truth: Truth) -> None:
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
        truth.items[item.id] = (cls, known)


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
