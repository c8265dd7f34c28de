"""Takedown jobs: trace and route, send due notices (batched), re-check removal."""

from __future__ import annotations

import logging
import smtplib
import time
from collections import defaultdict
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from openhotline import db
from openhotline.capture.tasks import make_fetcher
from openhotline.cases.lifecycle import AWAITING_ACTION, OPEN_FOR_NOTICE
from openhotline.cases.models import Case, CaseEventKind
from openhotline.cases.service import record_event
from openhotline.db import transaction
from openhotline.jobs import service as jobs
from openhotline.takedown import service
from openhotline.takedown.models import Notice, NoticeSendState
from openhotline.takedown.notices import NoticeTemplates, Outgoing, confirm_link
from openhotline.takedown.recheck import Online, recheck
from openhotline.takedown.routing import RoutingRules
from openhotline.trace.service import compute_trace, latest_trace, store_trace

if TYPE_CHECKING:
    from openhotline.bootstrap import Services

UNKNOWN_RETRY_HOURS = 1.0
# SMTP failures that prove the message was not delivered (refused before DATA completed).
NOT_DELIVERED: tuple[type[Exception], ...] = (
    ConnectionRefusedError,
    smtplib.SMTPConnectError,
    smtplib.SMTPHeloError,
    smtplib.SMTPSenderRefused,
    smtplib.SMTPRecipientsRefused,
)
log = logging.getLogger("openhotline.takedown")


class NoticeSendError(Exception):
    """At least one notice e-mail of a run failed (the job is retried; sends are settled)."""


def route_case(services: Services, payload: dict[str, Any]) -> None:
    """Trace where an assessed case is hosted and create its notice and referrals."""
    case_id = int(payload["case_id"])
    with services.sessionmaker() as session:
        case = session.get(Case, case_id)
        if case is None or not AWAITING_ACTION(case):
            return
        host = case.host
    result = compute_trace(services.tracer, host)
    with transaction(services.sessionmaker) as session:
        case = session.get(Case, case_id)
        if case is None or not AWAITING_ACTION(case):
            return
        trace = store_trace(session, case_id, result)
        rules = RoutingRules.from_settings(services.settings)
        service.route_case(session, case, trace, rules, services.settings.notice_languages)
        jobs.enqueue(session, "takedown.send_notices", {})


def _prepare(services: Services, notice_id: int) -> tuple[Online, str]:
    """Re-trace (on re-sends) and re-check one notice's case just before sending."""
    with transaction(services.sessionmaker) as session:
        lease = services.settings.notice_claim_lease_seconds
        if not service.claim_notice(session, notice_id, lease):
            return Online.UNKNOWN, "taken by another worker or no longer due"
    with services.sessionmaker() as session:
        notice = session.get(Notice, notice_id)
        case = session.get(Case, notice.case_id) if notice else None
        if notice is None or case is None:
            return Online.UNKNOWN, "gone"
        resend, host, url, case_id = notice.attempts > 0, case.host, case.canonical_url, case.id
        items = service.captured_items(session, case_id)
    if resend:
        result = compute_trace(services.tracer, host)
        with transaction(services.sessionmaker) as session:
            trace = store_trace(session, case_id, result)
            notice = session.get(Notice, notice_id)
            if notice is not None:
                service.retarget(session, notice, trace)
    with make_fetcher(services) as fetcher:
        verdict = recheck(fetcher, url, items)
    with transaction(services.sessionmaker) as session:
        case = session.get(Case, case_id)
        if case is None:
            return Online.UNKNOWN, "gone"
        if verdict.verdict == Online.REMOVED:
            service.mark_removed(session, case, verdict.detail)
        elif verdict.verdict == Online.UNKNOWN:
            notice = session.get(Notice, notice_id)
            if notice is not None:
                notice.next_due_at = db.now(session) + timedelta(hours=UNKNOWN_RETRY_HOURS)
            record_event(session, case_id, CaseEventKind.NOTICE_POSTPONED, detail=verdict.detail)
    return verdict.verdict, verdict.detail


def send_notices(services: Services, payload: dict[str, Any]) -> None:
    """Send every due notice, still online, batched into one e-mail per abuse contact."""
    s = services.settings
    with services.sessionmaker() as session:
        due_ids = [n.id for n in service.due_notices(session)]
    online = [nid for nid in due_ids if _prepare(services, nid)[0] == Online.ONLINE]
    if not online:
        return
    templates = NoticeTemplates(s.notice_templates_dir)
    with services.sessionmaker() as session:
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
                    "confirm_link": confirm_link(s.public_base_url, services.notice_link_key, nid),
                }
            )
    domain = s.notice_from.rpartition("@")[2] or "openhotline.invalid"
    failures: list[Exception] = []
    for (recipient, language), entries in batches.items():
        level = max(e["level"] for e in entries)
        cc = list(dict.fromkeys(c for e in entries for c in e["cc"]))
        cdn = next((e["cdn"] for e in entries if e["cdn"]), None)
        subject, body = templates.render(
            language,
            {"hotline_name": s.hotline_name, "entries": entries, "escalation": level, "cdn": cdn},
        )
        # Recorded first (at most once), then handed to SMTP, then settled.
        with transaction(services.sessionmaker) as session:
            recs = [service.SendRecord(e["notice_id"], cc, level, "") for e in entries]
            message_id = service.begin_sends(session, recs, s.notice_interval_hours, domain)
        if not message_id:
            continue
        out = Outgoing(recipient, cc, language, subject, body, message_id)
        failure: Exception | None = None
        try:
            services.mailer.send(out.to_email(s.notice_from))
        except NOT_DELIVERED as exc:
            state, failure = NoticeSendState.FAILED, exc
        except Exception as exc:
            state, failure = NoticeSendState.UNCERTAIN, exc
        else:
            state = NoticeSendState.SENT
        with transaction(services.sessionmaker) as session:
            service.finish_sends(session, message_id, state, repr(failure) if failure else None)
        if failure is not None:
            log.warning("notice e-mail %s to %s: %s (%r)", message_id, recipient, state, failure)
            failures.append(failure)
    if failures:
        raise NoticeSendError(f"{len(failures)} notice e-mail(s) failed") from failures[0]


def recheck_case(services: Services, payload: dict[str, Any]) -> None:
    """Check whether an actioned case's content is gone; if so mark it REMOVED."""
    case_id = int(payload["case_id"])
    with services.sessionmaker() as session:
        case = session.get(Case, case_id)
        if case is None or not OPEN_FOR_NOTICE(case):
            return
        url = case.canonical_url
        items = service.captured_items(session, case_id)
    with make_fetcher(services) as fetcher:
        verdict = recheck(fetcher, url, items)
    with transaction(services.sessionmaker) as session:
        case = session.get(Case, case_id)
        if case is None:
            return
        record_event(
            session, case_id, CaseEventKind.RECHECKED, actor="recheck", detail=verdict.verdict
        )
        if verdict.verdict == Online.REMOVED:
            service.mark_removed(session, case, verdict.detail)


def enqueue_takedown_work(services: Services) -> None:
    """Route newly assessed cases, send due notices, schedule periodic re-checks."""
    s = services.settings
    now = time.time()
    bucket = int(now // max(s.recheck_interval_hours * 3600, 1))
    with transaction(services.sessionmaker) as session:
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
