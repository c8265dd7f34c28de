"""Supervisors erase a reporter's address on request from the console, found by the address."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from openhotline.audit.models import AuditEntry
from openhotline.reporting.models import Report
from openhotline.reporting.schemas import ReportIn
from openhotline.reporting.service import submit_report
from tests.console_fixtures import Staff, csrf_of, login


def test_supervisor_erases_an_address_others_cannot(
    new_client: Callable[[], TestClient],
    make_user: Callable[..., Staff],
    session_factory: sessionmaker[Session],
) -> None:
    with session_factory.begin() as s:
        for i, email in enumerate(["Asker@Example.test", "asker@example.test", "other@x.test"]):
            submit_report(
                s,
                ReportIn(urls=[f"http://h.test/{i}"], contact_email=email, contact_consent=True),
            )
    sup = new_client()
    login(sup, make_user("sue", "supervisor"))
    page = sup.get("/console/reporters/erase")
    assert page.status_code == 200 and "Erase a reporter" in page.text
    done = sup.post(
        "/console/reporters/erase",
        data={"email": " asker@EXAMPLE.test ", "csrf_token": csrf_of(page.text)},
    )
    assert done.status_code == 200 and "erased from 2 reports" in done.text
    bad = sup.post(
        "/console/reporters/erase", data={"email": "nobody", "csrf_token": csrf_of(page.text)}
    )
    assert bad.status_code == 400 and "give the e-mail address" in bad.text
    with session_factory() as s:
        left = set(s.execute(select(Report.contact_email)).scalars())
        audit = (
            s.execute(select(AuditEntry).where(AuditEntry.action == "reporter.contact.erased"))
            .scalars()
            .all()
        )
    assert left == {None, "other@x.test"}
    assert audit and all("asker" not in a.details.lower() for a in audit)
    ana = new_client()
    login(ana, make_user("ann", "analyst"))
    assert ana.get("/console/reporters/erase").status_code == 403
