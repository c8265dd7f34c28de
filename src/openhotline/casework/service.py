"""The workbench's use cases over every hotline domain: find cases, read one whole, act on it.

Services never commit: the caller owns the transaction. Every status change goes through
cases.service.move(); every staff action leaves a case event and an audit entry.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.orm import Session, aliased

from openhotline import db
from openhotline.assessment.models import Assessment, ItemReview, ReviewState
from openhotline.audit import service as audit
from openhotline.audit.models import AuditAction
from openhotline.cases.lifecycle import AWAITING_ACTION, AWAITING_ASSESSMENT, OPEN_FOR_NOTICE
from openhotline.cases.models import Case, CaseEvent, CaseEventKind, CaseStatus
from openhotline.cases.service import move, record_event
from openhotline.casework.models import CaseHost, HostProvider
from openhotline.errors import ConflictError, InvalidError, NotFoundError
from openhotline.federation.models import Referral as FederationReferral
from openhotline.media.models import CaseItem, Item
from openhotline.reporting.models import Report, ReportURL
from openhotline.takedown import service as takedown
from openhotline.takedown.models import (
    Notice,
    NoticeSend,
    NoticeStatus,
    Referral,
    ReferralKind,
)
from openhotline.trace.models import HostingTrace

PAGE_SIZE = 50
MAX_PAGE = 10_000
MAX_REASON = 2000
# A case still being worked (not removed or closed) counts as open for its host.
AWAITING = AWAITING_ASSESSMENT.statuses | AWAITING_ACTION.statuses


@dataclass(frozen=True)
class CaseFilters:
    """What the case list is narrowed by; every field optional."""

    url: str | None = None  # a substring of the canonical URL
    domain: str | None = None  # registrable domain: the host or any of its subdomains
    host: str | None = None  # the exact host name
    ip: str | None = None  # an address the host resolved to (latest trace)
    status: CaseStatus | None = None
    country: str | None = None  # hosting country (ISO code, latest trace)
    source: str | None = None  # report source: "public", "partner:<name>", ...
    min_age_days: int | None = None
    max_age_days: int | None = None

    def query_string(self) -> str:
        """The filters as URL query parameters (for paging and export links)."""
        from urllib.parse import urlencode

        pairs = {
            "url": self.url,
            "domain": self.domain,
            "host": self.host,
            "ip": self.ip,
            "status": self.status.value if self.status else None,
            "country": self.country,
            "source": self.source,
            "min_age": self.min_age_days,
            "max_age": self.max_age_days,
        }
        return urlencode({k: v for k, v in pairs.items() if v not in (None, "")})


def parse_filters(raw: dict[str, str]) -> CaseFilters:
    """Build filters from query parameters; a bad value is an InvalidError naming it."""
    problems: list[str] = []

    def text(name: str, limit: int = 300) -> str | None:
        value = raw.get(name, "").strip()
        if len(value) > limit:
            problems.append(f"{name}: at most {limit} characters")
            return None
        return value or None

    def days(name: str) -> int | None:
        value = raw.get(name, "").strip()
        if not value:
            return None
        if not value.isdigit() or len(value) > 5:
            problems.append(f"{name}: a whole number of days")
            return None
        return int(value)

    status = None
    status_text = raw.get("status", "").strip()
    if status_text:
        try:
            status = CaseStatus(status_text)
        except ValueError:
            problems.append(f"status: one of {', '.join(s.value for s in CaseStatus)}")
    country = text("country", 2)
    if country and not country.isalpha():
        problems.append("country: a two-letter country code")
    filters = CaseFilters(
        url=text("url", 4096),
        domain=(text("domain", 260) or "").lower().strip(".") or None,
        host=(text("host", 260) or "").lower().strip(".") or None,
        ip=text("ip", 45),
        status=status,
        country=country.upper() if country else None,
        source=text("source", 100),
        min_age_days=days("min_age"),
        max_age_days=days("max_age"),
    )
    if problems:
        raise InvalidError("the search has invalid fields", problems)
    return filters


def _latest_traces() -> Any:
    """A subquery: the newest trace id of each case."""
    return (
        select(HostingTrace.case_id, func.max(HostingTrace.id).label("trace_id"))
        .group_by(HostingTrace.case_id)
        .subquery()
    )


def _search(filters: CaseFilters, now: datetime) -> Select[Case, HostingTrace]:
    # The newest trace of each case, found through the case_id index case by case (a join on
    # a grouped subquery made SQLite rescan every trace per case: 8 s at 20,000 cases).
    newer = aliased(HostingTrace)
    latest_id = (
        select(func.max(newer.id)).where(newer.case_id == Case.id).correlate(Case).scalar_subquery()
    )
    query = select(Case, HostingTrace).outerjoin(HostingTrace, HostingTrace.id == latest_id)
    if filters.url:
        query = query.where(Case.canonical_url.contains(filters.url, autoescape=True))
    if filters.domain:
        query = query.where(
            or_(
                Case.host == filters.domain,
                Case.host.endswith("." + filters.domain, autoescape=True),
            )
        )
    if filters.host:
        query = query.where(Case.host == filters.host)
    if filters.ip:
        # The traced address, or any other address the name resolved to (ips is a JSON list).
        query = query.where(
            or_(
                HostingTrace.ip == filters.ip,
                HostingTrace.ips.contains(json.dumps(filters.ip), autoescape=True),
            )
        )
    if filters.status:
        query = query.where(Case.status == filters.status)
    if filters.country:
        query = query.where(HostingTrace.country == filters.country)
    if filters.source:
        query = query.where(
            Case.id.in_(
                select(ReportURL.case_id)
                .join(Report, Report.id == ReportURL.report_id)
                .where(Report.source == filters.source)
            )
        )
    if filters.min_age_days is not None:
        query = query.where(Case.created_at <= now - timedelta(days=filters.min_age_days))
    if filters.max_age_days is not None:
        query = query.where(Case.created_at >= now - timedelta(days=filters.max_age_days))
    return query


@dataclass
class CaseRow:
    """One line of the case list."""

    case: Case
    trace: HostingTrace | None


@dataclass
class CasePage:
    """One page of search results."""

    rows: list[CaseRow]
    total: int
    page: int
    pages: int


def search_cases(session: Session, filters: CaseFilters, page: int = 0) -> CasePage:
    """Cases matching the filters, newest first, PAGE_SIZE per page."""
    page = max(0, min(page, MAX_PAGE))
    query = _search(filters, db.now(session))
    total = int(session.execute(select(func.count()).select_from(query.subquery())).scalar_one())
    rows = session.execute(
        query.order_by(Case.id.desc()).limit(PAGE_SIZE).offset(page * PAGE_SIZE)
    ).all()
    return CasePage([CaseRow(c, t) for c, t in rows], total, page, max(1, -(-total // PAGE_SIZE)))


def iter_cases(session: Session, filters: CaseFilters, limit: int = 100_000) -> list[CaseRow]:
    """Every case matching the filters (for exports), oldest first, up to limit."""
    query = _search(filters, db.now(session)).order_by(Case.id).limit(limit)
    return [CaseRow(c, t) for c, t in session.execute(query).all()]


CSV_HEADER = (
    "id",
    "url",
    "host",
    "status",
    "priority",
    "reports",
    "created_at",
    "country",
    "ip",
    "asn",
    "abuse_contact",
)
# Spreadsheets run a cell that starts with these as a formula (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell: object) -> str:
    """A CSV cell that no spreadsheet evaluates: formula starts get a leading quote."""
    text = "" if cell is None else str(cell)
    return "'" + text if text.startswith(_FORMULA_START) else text


def case_row_values(row: CaseRow) -> list[object]:
    """The CSV_HEADER values of one case."""
    c, t = row.case, row.trace
    return [
        c.id,
        c.canonical_url,
        c.host,
        c.status.value,
        c.priority,
        c.report_count,
        c.created_at.isoformat(),
        t.country if t else "",
        t.ip if t else "",
        t.asn if t else "",
        t.abuse_email if t else "",
    ]


def cases_csv(rows: Iterable[CaseRow]) -> str:
    """The cases as CSV with a header, every cell neutralised."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for row in rows:
        writer.writerow([neutralise(v) for v in case_row_values(row)])
    return out.getvalue()


@dataclass
class ItemLine:
    """One item of a case with its review state and (when visible) its grades."""

    item: Item
    media_url: str | None
    review: ItemReview | None
    grades: list[Assessment] = field(default_factory=list)

    @property
    def state(self) -> str:
        """The four-eyes state, or 'not in review'."""
        return self.review.state.value if self.review else "not in review"


@dataclass
class CaseFile:
    """Everything known about one case, for the case page and `openhotline case show`."""

    case: Case
    reports: list[Report]
    submitted: dict[int, list[str]]
    items: list[ItemLine]
    events: list[CaseEvent]
    traces: list[HostingTrace]
    notices: list[Notice]
    sends: list[NoticeSend]
    referrals: list[Referral]
    federation: list[FederationReferral]

    @property
    def police_pending(self) -> bool:
        """A notice waits for police to clear it."""
        return any(n.status == NoticeStatus.HELD for n in self.notices)

    def sends_of(self, notice_id: int) -> list[NoticeSend]:
        """The e-mails that carried one notice."""
        return [s for s in self.sends if s.notice_id == notice_id]


def case_file(session: Session, case_id: int, *, show_grades: bool = True) -> CaseFile:
    """Read a case whole; grades of items still under blind review only when show_grades."""
    case = session.get(Case, case_id)
    if case is None:
        raise NotFoundError(f"no case {case_id}")
    reports = list(
        session.execute(
            select(Report)
            .join(ReportURL, ReportURL.report_id == Report.id)
            .where(ReportURL.case_id == case_id)
            .distinct()
            .order_by(Report.id)
        ).scalars()
    )
    submitted = {r.id: [u.submitted_url for u in r.urls if u.case_id == case_id] for r in reports}
    lines = [
        ItemLine(item, media_url, review)
        for item, media_url, review in session.execute(
            select(Item, CaseItem.media_url, ItemReview)
            .join(CaseItem, CaseItem.item_id == Item.id)
            .outerjoin(ItemReview, ItemReview.item_id == Item.id)
            .where(CaseItem.case_id == case_id)
            .order_by(Item.id)
        ).all()
    ]
    ids = [line.item.id for line in lines]
    grades: dict[int, list[Assessment]] = {}
    if ids:
        for grade in session.execute(
            select(Assessment).where(Assessment.item_id.in_(ids)).order_by(Assessment.id)
        ).scalars():
            grades.setdefault(grade.item_id, []).append(grade)
    for line in lines:
        # Four eyes is blind: nobody sees another analyst's grade before the item is decided.
        decided = line.review is not None and line.review.state == ReviewState.DECIDED
        if show_grades or decided:
            line.grades = grades.get(line.item.id, [])
    td = takedown.case_takedown(session, case_id)
    federation = list(
        session.execute(
            select(FederationReferral)
            .where(FederationReferral.case_id == case_id)
            .order_by(FederationReferral.id)
        ).scalars()
    )
    return CaseFile(
        case=case,
        reports=reports,
        submitted=submitted,
        items=lines,
        events=list(case.events),
        traces=td.traces,
        notices=td.notices,
        sends=td.sends,
        referrals=td.referrals,
        federation=federation,
    )


def case_file_json(cf: CaseFile) -> dict[str, Any]:
    """A case file as plain JSON types (for `openhotline case show --format json`)."""

    def at(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    c = cf.case
    return {
        "id": c.id,
        "url": c.canonical_url,
        "host": c.host,
        "status": c.status.value,
        "priority": c.priority,
        "reports": c.report_count,
        "created_at": at(c.created_at),
        "first_assessed_at": at(c.first_assessed_at),
        "actioned_at": at(c.actioned_at),
        "removed_at": at(c.removed_at),
        "closed_at": at(c.closed_at),
        "items": [
            {
                "id": line.item.id,
                "sha256": line.item.sha256,
                "media_url": line.media_url,
                "status": line.item.status.value,
                "review_state": line.state,
                "classification": line.review.classification if line.review else None,
                "grades": [
                    {
                        "classification": g.classification,
                        "illegal": g.illegal,
                        "kind": g.kind.value,
                        "at": at(g.created_at),
                    }
                    for g in line.grades
                ],
            }
            for line in cf.items
        ],
        "trace": [
            {
                "traced_at": at(t.traced_at),
                "ip": t.ip,
                "ips": json.loads(t.ips or "[]"),
                "country": t.country,
                "asn": t.asn,
                "as_org": t.as_org,
                "abuse_email": t.abuse_email,
                "cdn": t.cdn,
                "error": t.error,
            }
            for t in cf.traces
        ],
        "notices": [
            {
                "id": n.id,
                "role": n.role,
                "recipient": n.recipient,
                "status": n.status.value,
                "attempts": n.attempts,
                "first_sent_at": at(n.first_sent_at),
                "last_sent_at": at(n.last_sent_at),
                "host_confirmed_at": at(n.host_confirmed_at),
                "sends": [
                    {"attempt": s.attempt, "sent_at": at(s.sent_at), "recipient": s.recipient}
                    for s in cf.sends_of(n.id)
                ],
            }
            for n in cf.notices
        ],
        "referrals": [
            {
                "kind": r.kind.value,
                "destination": r.destination,
                "country": r.country,
                "status": r.status.value,
                "sent_at": at(r.sent_at),
                "cleared_at": at(r.cleared_at),
                "detail": r.detail,  # e.g. the NCMEC report id, or why delivery failed
            }
            for r in cf.referrals
        ]
        + [
            {
                "kind": "federation",
                "destination": f.peer,
                "direction": f.direction,
                "status": f.status.value,
                "updated_at": at(f.updated_at),
            }
            for f in cf.federation
        ],
    }


# --- actions ---------------------------------------------------------------------------


def _case(session: Session, case_id: int) -> Case:
    case = session.get(Case, case_id)
    if case is None:
        raise NotFoundError(f"no case {case_id}")
    return case


def _reason(text: str, what: str = "reason") -> str:
    value = text.strip()
    if not value:
        raise InvalidError(f"a {what} is required")
    if len(value) > MAX_REASON:
        raise InvalidError(f"the {what} is longer than {MAX_REASON} characters")
    return value


def add_note(session: Session, case_id: int, text: str, *, actor: str) -> CaseEvent:
    """A staff note on the case's timeline (audited)."""
    _case(session, case_id)
    note = _reason(text, "note")
    event = record_event(session, case_id, CaseEventKind.NOTE, actor=actor, detail=note)
    audit.record(session, actor, AuditAction.CASE_NOTE, f"case:{case_id}", {"event": event.id})
    return event


def _valid_email(address: str) -> str:
    value = address.strip()
    local, at, domain = value.rpartition("@")
    if (
        not at
        or not local
        or "." not in domain
        or len(value) > 320
        or any(ch.isspace() or ch in "<>,;\"'" for ch in value)
    ):
        raise InvalidError("the abuse contact must be one e-mail address (name@host.example)")
    return value


def override_contact(
    session: Session, case_id: int, email: str, *, actor: str, why: str = ""
) -> Notice:
    """Send the case's host notice to this address (audited); creates the notice if none."""
    case = _case(session, case_id)
    address = _valid_email(email)
    if not OPEN_FOR_NOTICE(case):
        raise ConflictError(
            f"case {case_id} is {case.status}: only assessed or actioned cases get notices"
        )
    now = db.now(session)
    notice = session.execute(
        select(Notice).where(Notice.case_id == case_id, Notice.role == "host")
    ).scalar_one_or_none()
    before = notice.recipient if notice else None
    if notice is None:
        trace = session.execute(
            select(HostingTrace)
            .where(HostingTrace.case_id == case_id)
            .order_by(HostingTrace.id.desc())
            .limit(1)
        ).scalar_one_or_none()
        notice = Notice(
            case_id=case_id,
            trace_id=trace.id if trace else None,
            role="host",
            recipient=address,
            host=case.host,
            country=trace.country if trace else None,
            status=NoticeStatus.QUEUED,
            attempts=0,
            escalation=0,
            created_at=now,
            next_due_at=now,
        )
        session.add(notice)
    else:
        notice.recipient = address
        if notice.status in (NoticeStatus.DONE, NoticeStatus.CANCELLED):
            notice.status = NoticeStatus.QUEUED
            notice.closed_at = None
        if notice.status == NoticeStatus.QUEUED:
            notice.next_due_at = now
    session.flush()
    detail = f"{before or 'none'} -> {address}" + (f": {why.strip()[:200]}" if why.strip() else "")
    record_event(session, case_id, CaseEventKind.CONTACT_OVERRIDDEN, actor=actor, detail=detail)
    audit.record(
        session,
        actor,
        AuditAction.TAKEDOWN_CONTACT_OVERRIDE,
        f"case:{case_id}",
        {"from": before, "to": address, "notice": notice.id},
    )
    return notice


def hold_for_police(session: Session, case_id: int, *, actor: str, why: str) -> int:
    """Hold the case's queued notices until police clear them; return how many were held."""
    _case(session, case_id)
    reason = _reason(why)
    held = 0
    for notice in session.execute(
        select(Notice).where(
            Notice.case_id == case_id,
            Notice.status.in_([NoticeStatus.QUEUED, NoticeStatus.PAUSED]),
        )
    ).scalars():
        notice.status = NoticeStatus.HELD
        held += 1
    if not held:
        raise ConflictError(f"case {case_id} has no notice waiting to be sent")
    record_event(session, case_id, CaseEventKind.POLICE_HELD, actor=actor, detail=reason)
    audit.record(
        session,
        actor,
        AuditAction.TAKEDOWN_POLICE_HELD,
        f"case:{case_id}",
        {"held": held, "why": reason},
    )
    return held


def clear_for_police(session: Session, case_id: int, *, actor: str) -> int:
    """Police cleared the case: its held notices go out on the next run."""
    _case(session, case_id)
    if not session.execute(
        select(Notice.id).where(Notice.case_id == case_id, Notice.status == NoticeStatus.HELD)
    ).first():
        raise ConflictError(f"case {case_id} has no notice held for police")
    return takedown.clear_for_notice(session, case_id, actor=actor)


NOTICE_ACTIONS = ("pause", "resume", "cancel", "resend")


def change_notice(session: Session, notice_id: int, action: str, *, actor: str) -> Notice:
    """Pause, resume, cancel or re-send a notice now (audited, on the case's timeline)."""
    notice = session.get(Notice, notice_id)
    if notice is None:
        raise NotFoundError(f"no notice {notice_id}")
    status = notice.status
    now = db.now(session)
    if action == "pause" and status == NoticeStatus.QUEUED:
        notice.status = NoticeStatus.PAUSED
    elif action == "resume" and status == NoticeStatus.PAUSED:
        notice.status = NoticeStatus.QUEUED
    elif action == "cancel" and status in (
        NoticeStatus.QUEUED,
        NoticeStatus.PAUSED,
        NoticeStatus.HELD,
    ):
        notice.status = NoticeStatus.CANCELLED
        notice.closed_at = now
    elif action == "resend" and status in (NoticeStatus.QUEUED, NoticeStatus.PAUSED):
        case = _case(session, notice.case_id)
        if not OPEN_FOR_NOTICE(case):
            raise ConflictError(f"case {case.id} is {case.status}: no notice is sent for it")
        notice.status = NoticeStatus.QUEUED
        notice.next_due_at = now
    elif action in NOTICE_ACTIONS:
        raise ConflictError(f"a {status} notice cannot be told to {action}")
    else:
        raise InvalidError(f"unknown notice action {action!r}", [", ".join(NOTICE_ACTIONS)])
    detail = f"notice {notice.id} ({notice.recipient}): {action}"
    record_event(session, notice.case_id, CaseEventKind.NOTICE_CHANGED, actor=actor, detail=detail)
    audit.record(
        session,
        actor,
        AuditAction.TAKEDOWN_NOTICE_CHANGED,
        f"case:{notice.case_id}",
        {"notice": notice.id, "action": action, "from": status.value},
    )
    return notice


def mark_removed(session: Session, case_id: int, *, actor: str, why: str) -> None:
    """Staff confirmed the content is gone at source: the case is REMOVED, notices end."""
    case = _case(session, case_id)
    reason = _reason(why)
    if not OPEN_FOR_NOTICE(case):
        raise ConflictError(f"case {case_id} is {case.status}: only open cases can be removed")
    move(session, case, CaseStatus.REMOVED, actor=actor, reason=reason)
    now = db.now(session)
    for notice in session.execute(select(Notice).where(Notice.case_id == case_id)).scalars():
        if notice.status in (NoticeStatus.QUEUED, NoticeStatus.HELD, NoticeStatus.PAUSED):
            notice.status = NoticeStatus.DONE
            notice.closed_at = now
    audit.record(session, actor, AuditAction.TAKEDOWN_REMOVED, f"case:{case_id}", {"why": reason})


def mark_not_removed(session: Session, case_id: int, *, actor: str, why: str) -> int:
    """Staff found the content still online: noted; queued notices are re-sent now."""
    case = _case(session, case_id)
    reason = _reason(why)
    if not OPEN_FOR_NOTICE(case):
        raise ConflictError(f"case {case_id} is {case.status}: not an open takedown")
    now = db.now(session)
    resent = 0
    for notice in session.execute(
        select(Notice).where(Notice.case_id == case_id, Notice.status == NoticeStatus.QUEUED)
    ).scalars():
        notice.next_due_at = now
        notice.host_confirmed_at = None  # the host's "removed" click did not hold
        resent += 1
    record_event(session, case_id, CaseEventKind.NOT_REMOVED, actor=actor, detail=reason)
    audit.record(
        session,
        actor,
        AuditAction.TAKEDOWN_NOT_REMOVED,
        f"case:{case_id}",
        {"why": reason, "resent": resent},
    )
    return resent


def police_pending(session: Session) -> list[Case]:
    """Cases whose notices are held for a police decision, oldest first."""
    return list(
        session.execute(
            select(Case)
            .where(Case.id.in_(select(Notice.case_id).where(Notice.status == NoticeStatus.HELD)))
            .order_by(Case.id)
        ).scalars()
    )


def police_referrals(case_file_: CaseFile) -> Sequence[Referral]:
    """The police referrals of a case (its police decisions)."""
    return [
        r
        for r in case_file_.referrals
        if r.kind in (ReferralKind.POLICE, ReferralKind.INTERNATIONAL_POLICE)
    ]


# --- the host directory ----------------------------------------------------------------

CHANNELS = ("email", "portal", "api")


@dataclass
class HostForm:
    """A provider as typed into the console (validated by save_host)."""

    name: str
    asn: str = ""
    abuse_email: str = ""
    channel: str = "email"
    language: str = "en"
    portal_url: str = ""
    notes: str = ""


def save_host(
    session: Session, form: HostForm, *, actor: str, host_id: int | None = None
) -> HostProvider:
    """Create or update a provider in the directory (audited)."""
    problems: list[str] = []
    name = form.name.strip()
    if not name or len(name) > 200:
        problems.append("name: 1 to 200 characters")
    asn: int | None = None
    asn_text = form.asn.strip().upper().removeprefix("AS")
    if asn_text:
        if not asn_text.isdigit() or int(asn_text) > 4_294_967_295:
            problems.append("asn: a number such as 64500 or AS64500")
        else:
            asn = int(asn_text)
    email = form.abuse_email.strip()
    if email:
        try:
            email = _valid_email(email)
        except InvalidError as exc:
            problems.append(f"abuse contact: {exc.message}")
    if form.channel not in CHANNELS:
        problems.append(f"channel: one of {', '.join(CHANNELS)}")
    language = form.language.strip().lower() or "en"
    if len(language) > 10 or not language.replace("-", "").isalpha():
        problems.append("language: a language code such as en or pt-br")
    portal = form.portal_url.strip()
    if portal and not portal.lower().startswith(("https://", "http://")):
        problems.append("portal: an http(s) address")
    if form.channel == "portal" and not portal:
        problems.append("portal: needed when notices go through a portal")
    if form.channel == "email" and not email:
        problems.append("abuse contact: needed when notices go by e-mail")
    if len(form.notes) > 5000:
        problems.append("notes: at most 5,000 characters")
    clash = session.execute(
        select(HostProvider.id).where(HostProvider.name == name)
    ).scalar_one_or_none()
    if clash is not None and clash != host_id:
        problems.append(f"name: {name!r} is already in the directory")
    if problems:
        raise InvalidError("the host has invalid fields", problems)
    now = db.now(session)
    if host_id is None:
        host = HostProvider(name=name, created_at=now)
        session.add(host)
    else:
        found = session.get(HostProvider, host_id)
        if found is None:
            raise NotFoundError(f"no host {host_id}")
        host = found
    host.name = name
    host.asn = asn
    host.abuse_email = email or None
    host.channel = form.channel
    host.language = language
    host.portal_url = portal or None
    host.notes = form.notes.strip()
    host.updated_at = now
    session.flush()
    audit.record(
        session,
        actor,
        AuditAction.HOST_SAVE,
        f"host:{host.id}",
        {"name": name, "asn": asn, "abuse_email": host.abuse_email, "new": host_id is None},
    )
    return host


def hosts(session: Session) -> list[HostProvider]:
    """The directory, by name."""
    return list(session.execute(select(HostProvider).order_by(HostProvider.name)).scalars())


def host_cases_query(host: HostProvider) -> Select[Case]:
    """Cases on a provider: picked for it by hand, or last traced to its AS."""
    latest = _latest_traces()
    on_asn = (
        select(latest.c.case_id)
        .join(HostingTrace, HostingTrace.id == latest.c.trace_id)
        .where(HostingTrace.asn == host.asn)
    )
    picked = select(CaseHost.case_id).where(CaseHost.host_id == host.id)
    where: ColumnElement[bool] = Case.id.in_(picked)
    if host.asn is not None:
        where = or_(where, Case.id.in_(on_asn))
    return select(Case).where(where)


@dataclass
class HostRecord:
    """A provider with its open cases and how fast it removes."""

    host: HostProvider
    open_cases: list[Case]
    removed: int
    median_removal: timedelta | None
    slowest_removal: timedelta | None


def host_record(session: Session, host_id: int) -> HostRecord:
    """A provider, its open cases (oldest first) and its removal times (actioned → removed)."""
    host = session.get(HostProvider, host_id)
    if host is None:
        raise NotFoundError(f"no host {host_id}")
    cases = list(session.execute(host_cases_query(host).order_by(Case.id)).scalars())
    open_cases = [c for c in cases if OPEN_FOR_NOTICE(c) or c.status in AWAITING]
    times = sorted(c.removed_at - c.actioned_at for c in cases if c.removed_at and c.actioned_at)
    median = times[len(times) // 2] if times else None
    return HostRecord(host, open_cases, len(times), median, times[-1] if times else None)


def pick_host(session: Session, case_id: int, host_id: int, *, actor: str) -> HostProvider:
    """Staff picked the case's provider from the directory: notices go to its contact."""
    case = _case(session, case_id)
    host = session.get(HostProvider, host_id)
    if host is None:
        raise NotFoundError(f"no host {host_id}")
    link = session.get(CaseHost, case_id)
    now = db.now(session)
    if link is None:
        session.add(CaseHost(case_id=case_id, host_id=host_id, picked_at=now, picked_by=actor))
    else:
        link.host_id, link.picked_at, link.picked_by = host_id, now, actor
    session.flush()
    if host.abuse_email and OPEN_FOR_NOTICE(case):
        override_contact(session, case_id, host.abuse_email, actor=actor, why=f"host {host.name}")
    else:
        record_event(
            session,
            case_id,
            CaseEventKind.CONTACT_OVERRIDDEN,
            actor=actor,
            detail=f"host picked: {host.name}",
        )
    return host


def case_host(session: Session, case_id: int) -> HostProvider | None:
    """The provider picked for a case, if any."""
    link = session.get(CaseHost, case_id)
    return session.get(HostProvider, link.host_id) if link else None
