"""Takedown jobs: trace and route, send due notices (batched), re-check removal."""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import timedelta
from typing import Any

from openhotline import db
from openhotline.capture.tasks import make_fetcher
from openhotline.db import transaction
from openhotline.jobs import service as jobs
from openhotline.jobs.queue import tick_hook
from openhotline.jobs.runtime import Runtime, handler
from openhotline.reporting.models import Case, CaseStatus
from openhotline.reporting.service import record_case_event
from openhotline.takedown import service
from openhotline.takedown.mailer import Mailer, SmtpMailer
from openhotline.takedown.models import Notice
from openhotline.takedown.notices import NoticeTemplates, Outgoing, confirm_link, new_message_id
from openhotline.takedown.recheck import Online, recheck
from openhotline.takedown.routing import RoutingRules
from openhotline.trace.cdn import CdnRanges
from openhotline.trace.geoip import MaxMindGeoIP
from openhotline.trace.rdap import HttpRdap
from openhotline.trace.service import Tracer, compute_trace, latest_trace, store_trace

UNKNOWN_RETRY_HOURS = 1.0


def tracer(rt: Runtime) -> Tracer:
    """The trace adapters (cached per runtime)."""
    s = rt.settings

    def build() -> Tracer:
        return Tracer(
            resolver=rt.dns(),
            geoip=MaxMindGeoIP(s.geoip_country_db, s.geoip_asn_db),
            rdap=HttpRdap(s.rdap_base_url),
            cdns=CdnRanges.shipped(s.extra_cdn_ranges),
        )

    result: Tracer = rt.adapter("tracer", build)
    return result


def mailer(rt: Runtime) -> Mailer:
    """The mailer (SMTP from settings unless a test runtime provides one)."""
    result: Mailer = rt.adapter("mailer", lambda: SmtpMailer.from_settings(rt.settings))
    return result


@handler("takedown.route")
def route_case(rt: Runtime, payload: dict[str, Any]) -> None:
    """Trace where an assessed case is hosted and create its notice and referrals."""
    case_id = int(payload["case_id"])
    with rt.sessionmaker() as session:
        case = session.get(Case, case_id)
        if case is None or case.status != CaseStatus.ASSESSED.value:
            return
        host = case.host
    result = compute_trace(tracer(rt), host)
    with transaction(rt.sessionmaker) as session:
        case = session.get(Case, case_id)
        if case is None or case.status != CaseStatus.ASSESSED.value:
            return
        trace = store_trace(session, case_id, result)
        rules = RoutingRules.from_settings(rt.settings)
        service.route_case(session, case, trace, rules, rt.settings.notice_languages)
        jobs.enqueue(session, "takedown.send_notices", {})


def _prepare(rt: Runtime, notice_id: int) -> tuple[Online, str]:
    """Re-trace (on re-sends) and re-check one notice's case just before sending."""
    with transaction(rt.sessionmaker) as session:
        if not service.claim_notice(session, notice_id):
            return Online.UNKNOWN, "taken by another worker or no longer due"
    with rt.sessionmaker() as session:
        notice = session.get(Notice, notice_id)
        case = session.get(Case, notice.case_id) if notice else None
        if notice is None or case is None:
            return Online.UNKNOWN, "gone"
        resend, host, url, case_id = notice.attempts > 0, case.host, case.canonical_url, case.id
        items = service.captured_items(session, case_id)
    if resend:
        result = compute_trace(tracer(rt), host)
        with transaction(rt.sessionmaker) as session:
            trace = store_trace(session, case_id, result)
            notice = session.get(Notice, notice_id)
            if notice is not None:
                service.retarget(session, notice, trace)
    with make_fetcher(rt) as fetcher:
        verdict = recheck(fetcher, url, items)
    with transaction(rt.sessionmaker) as session:
        case = session.get(Case, case_id)
        if case is None:
            return Online.UNKNOWN, "gone"
        if verdict.verdict == Online.REMOVED:
            service.mark_removed(session, case, verdict.detail)
        elif verdict.verdict == Online.UNKNOWN:
            notice = session.get(Notice, notice_id)
            if notice is not None:
                notice.next_due_at = db.now(session) + timedelta(hours=UNKNOWN_RETRY_HOURS)
            record_case_event(session, case_id, "notice_postponed", detail=verdict.detail)
    return verdict.verdict, verdict.detail


@handler("takedown.send_notices")
def send_notices(rt: Runtime, payload: dict[str, Any]) -> None:
    """Send every due notice, still online, batched into one e-mail per abuse contact."""
    s = rt.settings
    with rt.sessionmaker() as session:
        due_ids = [n.id for n in service.due_notices(session)]
    online = [nid for nid in due_ids if _prepare(rt, nid)[0] == Online.ONLINE]
    if not online:
        return
    templates = NoticeTemplates(s.notice_templates_dir)
    with rt.sessionmaker() as session:
        batches: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for nid in online:
            notice = session.get(Notice, nid)
            case = session.get(Case, notice.case_id) if notice else None
            if notice is None or case is None:
                continue
            trace = latest_trace(session, case.id)
            attempt = notice.attempts + 1
            level = service.escalation_level(attempt, s.notice_escalate_after)
            batches[(notice.recipient, notice.language)].append(
                {
                    "notice_id": nid,
                    "case_id": case.id,
                    "url": case.canonical_url,
                    "reported": case.created_at.strftime("%Y-%m-%d %H:%M UTC"),
                    "ip": trace.ip if trace else None,
                    "attempt": attempt,
                    "level": level,
                    "cdn": trace.cdn if trace else None,
                    "cc": service.escalation_cc(level, trace, s.notice_escalation_cc),
                    "confirm_link": confirm_link(s, nid),
                }
            )
    for (recipient, language), entries in batches.items():
        level = max(e["level"] for e in entries)
        cc = list(dict.fromkeys(c for e in entries for c in e["cc"]))
        cdn = next((e["cdn"] for e in entries if e["cdn"]), None)
        subject, body = templates.render(
            language,
            {"hotline_name": s.hotline_name, "entries": entries, "escalation": level, "cdn": cdn},
        )
        out = Outgoing(recipient, cc, language, subject, body, new_message_id())
        mailer(rt).send(out.to_email(s.notice_from))
        with transaction(rt.sessionmaker) as session:
            for e in entries:
                rec = service.SendRecord(e["notice_id"], cc, level, out.message_id)
                service.record_send(session, rec, s.notice_interval_hours)


@handler("takedown.recheck")
def recheck_case(rt: Runtime, payload: dict[str, Any]) -> None:
    """Check whether an actioned case's content is gone; if so mark it REMOVED."""
    case_id = int(payload["case_id"])
    with rt.sessionmaker() as session:
        case = session.get(Case, case_id)
        if case is None or case.status not in service.OPEN_CASE_STATUSES:
            return
        url = case.canonical_url
        items = service.captured_items(session, case_id)
    with make_fetcher(rt) as fetcher:
        verdict = recheck(fetcher, url, items)
    with transaction(rt.sessionmaker) as session:
        case = session.get(Case, case_id)
        if case is None:
            return
        record_case_event(
            session, case_id, "rechecked", actor="recheck", detail=verdict.verdict.value
        )
        if verdict.verdict == Online.REMOVED:
            service.mark_removed(session, case, verdict.detail)


@tick_hook
def enqueue_takedown_work(rt: Runtime) -> None:
    """Route newly assessed cases, send due notices, schedule periodic re-checks."""
    s = rt.settings
    now = time.time()
    bucket = int(now // max(s.recheck_interval_hours * 3600, 1))
    with transaction(rt.sessionmaker) as session:
        for case_id in service.cases_to_route(session):
            jobs.enqueue(
                session, "takedown.route", {"case_id": case_id}, dedupe_key=f"route:{case_id}"
            )
        if service.due_notices(session):
            jobs.enqueue(session, "takedown.send_notices", {}, dedupe_key=f"send:{int(now // 60)}")
        for case_id in service.cases_to_recheck(session):
            jobs.enqueue(
                session,
                "takedown.recheck",
                {"case_id": case_id},
                dedupe_key=f"recheck:{case_id}:{bucket}",
            )
