"""The case list and search, the CSV export, the case page and its takedown actions (HTTP)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from openhotline.audit.models import AuditAction, AuditEntry
from openhotline.cases.models import Case, CaseEvent, CaseEventKind, CaseStatus
from openhotline.casework import service as casework
from openhotline.db import now as db_now
from openhotline.db import transaction
from openhotline.takedown.models import Notice, NoticeStatus, Referral, ReferralKind
from openhotline.trace.models import HostingTrace
from tests.case_support import walk_to
from tests.console_fixtures import Items, Staff, login


def traced(
    factory: sessionmaker[Session],
    case_id: int,
    *,
    ip: str = "192.0.2.10",
    country: str = "NL",
    abuse: str | None = "abuse@host.example",
    asn: int | None = 64500,
    status: CaseStatus | None = None,
    notice: NoticeStatus | None = None,
    police: bool = False,
) -> int | None:
    """Give a case a trace, optionally a status, a host notice and a police referral."""
    with transaction(factory) as s:
        case = s.get(Case, case_id)
        assert case is not None
        trace = HostingTrace(
            case_id=case_id,
            traced_at=db_now(s),
            host=case.host,
            ips=json.dumps([ip, "2001:db8::1"]),
            ip=ip,
            country=country,
            asn=asn,
            as_org="Example Hosting",
            abuse_email=abuse,
        )
        s.add(trace)
        s.flush()
        if status is not None:
            walk_to(s, case, status)
        notice_id = None
        if notice is not None:
            n = Notice(
                case_id=case_id,
                trace_id=trace.id,
                role="host",
                recipient=abuse or "abuse@host.example",
                host=case.host,
                country=country,
                status=notice,
                created_at=db_now(s),
                next_due_at=db_now(s),
            )
            s.add(n)
            s.flush()
            notice_id = n.id
        if police:
            s.add(
                Referral(
                    case_id=case_id,
                    kind=ReferralKind.POLICE,
                    destination="national police",
                    country=country,
                    created_at=db_now(s),
                )
            )
        return notice_id


def _post(client: TestClient, url: str, csrf: str, **data: str) -> str:
    response = client.post(url, data={"csrf_token": csrf, **data}, follow_redirects=False)
    assert response.status_code == 303, response.text
    return str(response.headers["location"])


def test_search_by_every_field_and_paging(
    new_client: Callable[[], TestClient],
    make_user: Callable[..., Staff],
    items: Items,
    session_factory: sessionmaker[Session],
) -> None:
    a = items.case("http://www.shop.example.test/gallery/1")
    b = items.case("http://other.test/x", source="partner:acme")
    c = items.case("http://shop.example.test/y")
    traced(session_factory, a, ip="192.0.2.10", country="NL", status=CaseStatus.ASSESSED)
    traced(session_factory, b, ip="198.51.100.7", country="US")
    client = new_client()
    login(client, make_user("ana"))

    def found(query: str) -> set[int]:
        page = client.get(f"/console/cases?{query}")
        assert page.status_code == 200, page.text
        return {i for i in (a, b, c) if f'data-case="{i}"' in page.text}

    assert found("") == {a, b, c}
    assert found("url=gallery") == {a}
    assert found("url=%25") == set()  # LIKE wildcards are literal
    assert found("domain=example.test") == {a, c}
    assert found("host=shop.example.test") == {c}
    assert found("ip=198.51.100.7") == {b}
    assert found("ip=2001:db8::1") == {a, b}  # any address the name resolved to
    assert found("status=assessed") == {a}
    assert found("country=nl") == {a}
    assert found("source=partner:acme") == {b}
    assert found("max_age=1") == {a, b, c}
    assert found("min_age=1") == set()
    bad = client.get("/console/cases?status=nonsense&min_age=x")
    assert bad.status_code == 400
    assert "text/html" in bad.headers["content-type"]
    assert "status: one of" in bad.text and "min_age" in bad.text

    with transaction(session_factory) as s:
        filters = casework.CaseFilters()
        assert casework.search_cases(s, filters).total == 3
    for n in range(casework.PAGE_SIZE):
        items.case(f"http://bulk.test/{n}")
    first = client.get("/console/cases?domain=bulk.test").text
    assert "Page 1 of 1" in first
    everything = client.get("/console/cases").text
    assert "Page 1 of 2" in everything and 'id="next-page"' in everything
    second = client.get("/console/cases?page=1").text
    assert f'data-case="{a}"' in second  # newest first: the oldest are on page 2


def test_csv_export_neutralises_formulas_and_is_audited(
    new_client: Callable[[], TestClient],
    make_user: Callable[..., Staff],
    items: Items,
    session_factory: sessionmaker[Session],
) -> None:
    evil = items.case("http://evil.test/=HYPERLINK(1)")
    traced(session_factory, evil, abuse="=cmd|' /C calc'!A0@x.test")
    items.case("http://calm.test/page")
    client = new_client()
    login(client, make_user("ana"))
    response = client.get("/console/cases.csv?domain=evil.test")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == list(casework.CSV_HEADER)
    assert len(rows) == 2 and rows[1][0] == str(evil)
    assert rows[1][casework.CSV_HEADER.index("abuse_contact")].startswith("'=")
    for cell in rows[1]:
        assert not cell.startswith(("=", "+", "-", "@"))
    assert casework.neutralise("+1") == "'+1" and casework.neutralise("-2") == "'-2"
    assert casework.neutralise("@SUM(A1)") == "'@SUM(A1)" and casework.neutralise("ok") == "ok"
    with transaction(session_factory) as s:
        entry = s.execute(
            select(AuditEntry).where(AuditEntry.action == AuditAction.CASE_LIST_EXPORT)
        ).scalar_one()
        assert "evil.test" in entry.details


def test_case_page_shows_trace_notices_referrals_and_blind_grades(
    new_client: Callable[[], TestClient],
    make_user: Callable[..., Staff],
    items: Items,
    session_factory: sessionmaker[Session],
) -> None:
    case_id = items.case("http://host.test/p")
    items.item(5, case_id)
    traced(
        session_factory,
        case_id,
        status=CaseStatus.ACTIONED,
        notice=NoticeStatus.HELD,
        police=True,
    )
    client = new_client()
    login(client, make_user("ana"))
    page = client.get(f"/console/cases/{case_id}").text
    for part in ('id="traces"', "abuse@host.example", 'id="notices"', "held", "national police"):
        assert part in page, part
    assert 'id="police-pending"' in page and 'id="timeline"' in page
    # An analyst sees no takedown actions (supervisors act), but may add a note.
    assert 'id="police-clear"' not in page and 'id="note-form"' in page


def test_takedown_actions_each_audited_and_on_the_timeline(
    new_client: Callable[[], TestClient],
    make_user: Callable[..., Staff],
    items: Items,
    session_factory: sessionmaker[Session],
) -> None:
    case_id = items.case("http://host.test/act")
    notice_id = traced(
        session_factory, case_id, status=CaseStatus.ACTIONED, notice=NoticeStatus.QUEUED
    )
    sue = new_client()
    csrf = login(sue, make_user("sue", "supervisor"))
    base = f"/console/cases/{case_id}"

    assert _post(sue, f"{base}/note", csrf, note="called the host").endswith("msg=note_added")
    assert _post(sue, f"/console/notices/{notice_id}/pause", csrf).endswith("msg=notice_changed")
    # A paused notice is not due, whatever its time.
    from openhotline.takedown.service import due_notices

    with transaction(session_factory) as s:
        assert notice_id not in [n.id for n in due_notices(s)]
    _post(sue, f"/console/notices/{notice_id}/resume", csrf)
    _post(sue, f"{base}/police-hold", csrf, why="police asked to wait")
    held = sue.get(base).text
    assert 'id="police-pending"' in held and 'id="police-clear"' in held
    assert _post(sue, f"{base}/police-clear", csrf).endswith("msg=police_cleared")
    _post(sue, f"{base}/contact", csrf, email="abuse@other.example", why="RDAP was wrong")
    assert _post(sue, f"{base}/not-removed", csrf, why="still online").endswith("not_removed")
    # Refusals are clear, never a traceback.
    wrong = sue.post(f"/console/notices/{notice_id}/resume", data={"csrf_token": csrf})
    assert wrong.status_code == 409 and "cannot be told to resume" in wrong.text
    empty = sue.post(f"{base}/removed", data={"csrf_token": csrf, "why": " "})
    assert empty.status_code == 400 and "reason is required" in empty.text
    bad_mail = sue.post(f"{base}/contact", data={"csrf_token": csrf, "email": "not mail"})
    assert bad_mail.status_code == 400 and "e-mail address" in bad_mail.text
    assert _post(sue, f"{base}/removed", csrf, why="checked: 404").endswith("msg=removed")

    with transaction(session_factory) as s:
        case = s.get(Case, case_id)
        assert case is not None and case.status == CaseStatus.REMOVED
        notice = s.get(Notice, notice_id)
        assert notice is not None
        assert notice.recipient == "abuse@other.example" and notice.status == NoticeStatus.DONE
        kinds = list(
            s.execute(select(CaseEvent.kind).where(CaseEvent.case_id == case_id)).scalars()
        )
        for kind in (
            CaseEventKind.NOTE,
            CaseEventKind.NOTICE_CHANGED,
            CaseEventKind.POLICE_HELD,
            CaseEventKind.POLICE_CLEARED,
            CaseEventKind.CONTACT_OVERRIDDEN,
            CaseEventKind.NOT_REMOVED,
        ):
            assert kind in kinds, kind
        actions = set(s.execute(select(AuditEntry.action)).scalars())
        for action in (
            AuditAction.CASE_NOTE,
            AuditAction.TAKEDOWN_NOTICE_CHANGED,
            AuditAction.TAKEDOWN_POLICE_HELD,
            AuditAction.TAKEDOWN_POLICE_CLEARED,
            AuditAction.TAKEDOWN_CONTACT_OVERRIDE,
            AuditAction.TAKEDOWN_NOT_REMOVED,
            AuditAction.TAKEDOWN_REMOVED,
        ):
            assert action in actions, action


def test_contact_override_creates_the_missing_notice(
    new_client: Callable[[], TestClient],
    make_user: Callable[..., Staff],
    items: Items,
    session_factory: sessionmaker[Session],
) -> None:
    case_id = items.case("http://nocontact.test/p")
    traced(session_factory, case_id, abuse=None, status=CaseStatus.ACTIONED)
    sue = new_client()
    csrf = login(sue, make_user("sue", "supervisor"))
    _post(sue, f"/console/cases/{case_id}/contact", csrf, email="abuse@found.example")
    with transaction(session_factory) as s:
        notice = s.execute(select(Notice).where(Notice.case_id == case_id)).scalar_one()
        assert notice.recipient == "abuse@found.example"
        assert notice.status == NoticeStatus.QUEUED and notice.country == "NL"
    # A case not yet assessed gets no notice.
    fresh = items.case("http://nocontact.test/new")
    refused = sue.post(
        f"/console/cases/{fresh}/contact",
        data={"csrf_token": csrf, "email": "abuse@found.example"},
    )
    assert refused.status_code == 409


def test_a_paused_notice_ends_when_a_recheck_finds_the_content_gone(
    items: Items, session_factory: sessionmaker[Session]
) -> None:
    from openhotline.takedown.service import mark_removed

    case_id = items.case("http://paused.test/p")
    notice_id = traced(
        session_factory, case_id, status=CaseStatus.ACTIONED, notice=NoticeStatus.PAUSED
    )
    with transaction(session_factory) as s:
        case = s.get(Case, case_id)
        assert case is not None and mark_removed(s, case, "404 on re-check")
    with transaction(session_factory) as s:
        notice = s.get(Notice, notice_id)
        assert notice is not None and notice.status == NoticeStatus.DONE
