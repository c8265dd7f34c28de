"""Time comes from the injected clock: no module reads the wall clock but clock.py and db.py."""

from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

import openhotline
from openhotline.app import create_app
from openhotline.bootstrap import build
from openhotline.clock import FixedClock
from openhotline.config import Settings
from openhotline.db import now, transaction
from openhotline.jobs import service as jobs
from openhotline.jobs.models import Job

PACKAGE = Path(openhotline.__file__).resolve().parent
ALLOWED = {PACKAGE / "clock.py", PACKAGE / "db.py"}
# datetime.now(), datetime.utcnow(), date.today(), datetime.today() and openhotline.db.utcnow().
FORBIDDEN_ATTRS = {("datetime", "now"), ("datetime", "utcnow"), ("datetime", "today")}
FORBIDDEN_ATTRS |= {("date", "today"), ("db", "utcnow")}


def wall_clock_calls(source: str) -> list[tuple[int, str]]:
    """The (line, call) of every wall-clock read in a module's source."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id == "utcnow":
            found.append((node.lineno, "utcnow()"))
        elif isinstance(func, ast.Attribute):
            owner = func.value
            # datetime.datetime.now() as well as datetime.now()
            name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", "")
            if (name, func.attr) in FORBIDDEN_ATTRS:
                found.append((node.lineno, f"{name}.{func.attr}()"))
    return found


def test_the_scan_finds_every_form() -> None:
    source = (
        "import datetime\nfrom datetime import date, datetime as dt\n"
        "a = utcnow()\nb = datetime.now(UTC)\nc = datetime.datetime.utcnow()\n"
        "d = date.today()\ne = db.utcnow()\nf = db.now(session)\ng = clock.now()\n"
    )
    assert [call for _line, call in wall_clock_calls(source)] == [
        "utcnow()",
        "datetime.now()",
        "datetime.utcnow()",
        "date.today()",
        "db.utcnow()",
    ]


def test_no_module_reads_the_wall_clock() -> None:
    offenders = [
        f"{path.relative_to(PACKAGE.parent)}:{line}: {call}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if path not in ALLOWED
        for line, call in wall_clock_calls(path.read_text(encoding="utf-8"))
    ]
    assert offenders == [], "use db.now(session) or an injected Clock:\n" + "\n".join(offenders)


def test_the_app_and_the_worker_services_take_an_injected_clock(settings: Settings) -> None:
    fixed = FixedClock(datetime(2026, 12, 1, 1, 30, tzinfo=UTC))
    rt = build(settings, clock=fixed)
    try:
        with transaction(rt.sessionmaker) as s:
            jobs.enqueue(s, "test.noop", {}, delay_seconds=60)
        with rt.sessionmaker() as s:
            job = s.execute(select(Job)).scalar_one()
            assert job.created_at == fixed.now()
            assert job.run_after == fixed.now() + timedelta(seconds=60)
    finally:
        rt.close()
    app = create_app(settings, clock=fixed)
    with app.state.services.sessionmaker() as s:
        assert now(s) == fixed.now()
