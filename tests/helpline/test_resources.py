"""The referral directory: managing resources, picking them on a contact, counting them in
trends, and importing them from CSV (synthetic services only)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from openhotline.audit.models import AuditEntry
from openhotline.cli import app as cli_app
from openhotline.config import get_settings
from openhotline.db import transaction
from openhotline.errors import ConflictError
from openhotline.helpline import resources, service, trends
from openhotline.helpline.resource_models import ContactResource, HelplineResource
from tests.console_fixtures import Staff, login
from tests.helpline.helpers import TAXONOMY, child_input, record

NOW = datetime(2026, 3, 5, tzinfo=UTC)


def _add(session: Session, code: str, **kw: object) -> HelplineResource:
    data = resources.ResourceIn(
        code=code,
        name=kw.pop("name", f"Service {code}"),
        category=kw.pop("category", "mental_health"),
        **kw,  # type: ignore[arg-type]
    )
    return resources.add_resource(session, data, taxonomy=TAXONOMY, actor="user:test")


def test_directory_filters_by_region_category_and_age(
    session_factory: sessionmaker[Session],
) -> None:
    with transaction(session_factory) as s:
        _add(s, "national-mh")
        _add(s, "north-teen", region="north", age_min=13, age_max=17)
        _add(s, "south-legal", region="south", category="legal_matters", age_min=18)
        old = _add(s, "old-one", region="north")
        resources.retire_resource(s, old, actor="user:test")
        with pytest.raises(ConflictError):
            resources.retire_resource(s, old, actor="user:test")

    def codes(**kw: object) -> list[str]:
        with transaction(session_factory) as s:
            found = resources.find_resources(s, resources.ResourceFilter(**kw))  # type: ignore[arg-type]
            return sorted(r.code for r in found)

    assert codes() == ["national-mh", "north-teen", "south-legal"]
    assert codes(region="north") == ["national-mh", "north-teen"]  # nationwide serves all
    assert codes(category="legal_matters") == ["south-legal"]
    assert codes(age=10) == ["national-mh"]
    assert codes(age=15, region="north") == ["national-mh", "north-teen"]
    assert codes(age=40) == ["national-mh", "south-legal"]
    assert "old-one" in codes(include_retired=True)


def test_bad_resources_are_refused_with_reasons(session_factory: sessionmaker[Session]) -> None:
    with transaction(session_factory) as s:
        _add(s, "taken")
        for data, expected in (
            (resources.ResourceIn("Bad Code!", "x", "mental_health"), "code:"),
            (resources.ResourceIn("ok", "", "mental_health"), "name: required"),
            (resources.ResourceIn("ok", "x", "astrology"), "category: unknown code"),
            (resources.ResourceIn("ok", "x", "mental_health", region="mars"), "region:"),
            (resources.ResourceIn("ok", "x", "mental_health", age_min=9, age_max=3), "age_max"),
            (resources.ResourceIn("taken", "x", "mental_health"), "already in use"),
        ):
            with pytest.raises(resources.ResourceRejectedError) as exc:
                resources.add_resource(s, data, taxonomy=TAXONOMY, actor="user:test")
            assert any(expected in d for d in exc.value.detail), exc.value.detail
    assert resources.resource_of_fields({"age_min": "abc"})[1] == [
        "age_min: a whole number of years from 0 to 120"
    ]


def test_contacts_pick_resources_and_trends_count_them(
    session_factory: sessionmaker[Session],
) -> None:
    with transaction(session_factory) as s:
        a, b = _add(s, "svc-a"), _add(s, "svc-b")
        gone = _add(s, "svc-gone")
        resources.retire_resource(s, gone, actor="user:test")
        ids = (a.id, b.id, gone.id)
    with transaction(session_factory) as s:
        for month in range(1, 13):
            for _ in range(6):
                record(s, child_input(resources=[ids[0]]), at=datetime(2025, month, 3, tzinfo=UTC))
        record(s, child_input(resources=[ids[0], ids[1]]), at=datetime(2025, 4, 3, tzinfo=UTC))
        for bad, msg in (([ids[2]], "is retired"), ([999], "unknown resource 999")):
            with pytest.raises(service.ContactRejectedError) as exc:
                record(s, child_input(resources=bad))
            assert any(msg in d for d in exc.value.detail)
    with transaction(session_factory) as s:
        table = trends.build_year(s, 2025, TAXONOMY, 5, NOW)["resource"]
        annual = trends.annual_export(s, 2025, TAXONOMY, 5, NOW)
        assert s.execute(select(func.count()).select_from(ContactResource)).scalar_one() == 74
    assert table.counts == "resource referrals"
    col = dict(zip(table.columns, table.column_totals, strict=True))
    assert col["svc-b"] is None  # one referral: suppressed
    assert col["svc-a"] is None  # ... and the only other non-zero one, or 74 - 73 = 1
    assert col["svc-gone"] == 0 and table.total == 74
    apr = table.rows.index("2025-04")
    assert table.cells[apr][table.columns.index("svc-a")] is None
    jan = table.rows.index("2025-01")
    assert table.cells[jan][table.columns.index("svc-a")] == 6
    assert "Service svc-a" in table.column_labels
    assert annual["by_resource"] == col
    cells = [v for row in table.cells for v in row] + table.row_totals + table.column_totals
    assert all(v is None or v == 0 or v >= 5 for v in cells)


@pytest.fixture
def staff(
    new_client: Callable[[], TestClient], make_user: Callable[..., Staff]
) -> dict[str, tuple[TestClient, str]]:
    out = {}
    for name, role in (("cora", "counsellor"), ("sam", "helpline_supervisor")):
        client = new_client()
        out[name] = (client, login(client, make_user(name, role)))
    return out


def test_console_directory_pages_and_contact_form(
    staff: dict[str, tuple[TestClient, str]], session_factory: sessionmaker[Session]
) -> None:
    sup, sup_csrf = staff["sam"]
    cora, cora_csrf = staff["cora"]
    assert sup.get("/console/helpline/resources/new").status_code == 200
    form = {
        "code": "teen-line",
        "name": "Teen support line",
        "category": "mental_health",
        "region": "north",
        "age_min": "12",
        "age_max": "17",
        "reach": "0800 000 000",
        "description": "synthetic service",
        "csrf_token": sup_csrf,
    }
    r = sup.post("/console/helpline/resources", data={**form, "age_min": "x"})
    assert r.status_code == 400 and "age_min: a whole number" in r.text
    r = sup.post("/console/helpline/resources", data={**form, "category": "nope"})
    assert r.status_code == 400 and "category: unknown code" in r.text
    r = sup.post("/console/helpline/resources", data=form, follow_redirects=False)
    assert r.status_code == 303
    r = sup.post(
        "/console/helpline/resources",
        data={
            **form,
            "code": "adult-line",
            "name": "Adult line",
            "region": "",
            "age_min": "18",
            "age_max": "",
        },
    )
    assert r.status_code == 200 and "Resource saved" in r.text
    with transaction(session_factory) as s:
        teen = s.execute(
            select(HelplineResource).where(HelplineResource.code == "teen-line")
        ).scalar_one()
        adult = s.execute(
            select(HelplineResource).where(HelplineResource.code == "adult-line")
        ).scalar_one()
        teen_id, adult_id = teen.id, adult.id
    # Counsellors browse and filter but do not manage.
    page = cora.get("/console/helpline/resources", params={"region": "north", "age": "14"})
    assert page.status_code == 200 and "Teen support line" in page.text
    assert "Adult line" not in page.text and "new-resource" not in page.text
    assert "Adult line" in cora.get("/console/helpline/resources", params={"age": "30"}).text
    assert cora.get("/console/helpline/resources/new").status_code == 403
    r = cora.post(f"/console/helpline/resources/{teen_id}/retire", data={"csrf_token": cora_csrf})
    assert r.status_code == 403
    # Edit keeps the code.
    r = sup.post(
        f"/console/helpline/resources/{teen_id}",
        data={**form, "code": "changed", "name": "Teen line (renamed)"},
    )
    assert r.status_code == 200 and "Teen line (renamed)" in r.text
    assert sup.get("/console/helpline/resources/999/edit").status_code == 404

    # The contact form offers the directory as a no-JS multi-select; picks are stored.
    new = cora.get("/console/helpline/contacts/new?mode=child")
    assert '<select id="resources" name="resources" multiple' in new.text
    assert "Teen line (renamed)" in new.text and "<script" not in new.text
    r = cora.post(
        "/console/helpline/contacts",
        data={
            "mode": "child",
            "channel": "chat",
            "contact_type": "child_about_self",
            "outcome": "referred",
            "resources": [str(teen_id), str(adult_id)],
            "csrf_token": cora_csrf,
        },
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    view = cora.get(r.headers["location"])
    assert re.search(r'id="referred-resources">[^<]*Adult line[^<]*Teen line', view.text)

    # Retired: not offered any more, refused if posted, shown under "include retired".
    r = sup.post(f"/console/helpline/resources/{teen_id}/retire", data={"csrf_token": sup_csrf})
    assert r.status_code == 200 and "Resource retired" in r.text
    assert "Teen line (renamed)" not in cora.get("/console/helpline/contacts/new?mode=child").text
    r = cora.post(
        "/console/helpline/contacts",
        data={
            "mode": "child",
            "channel": "chat",
            "contact_type": "child_about_self",
            "outcome": "referred",
            "resources": [str(teen_id)],
            "csrf_token": cora_csrf,
        },
    )
    assert r.status_code == 400 and "is retired" in r.text
    r = cora.post(
        "/console/helpline/contacts",
        data={
            "mode": "child",
            "channel": "chat",
            "contact_type": "child_about_self",
            "outcome": "referred",
            "resources": ["abc"],
            "csrf_token": cora_csrf,
        },
    )
    assert r.status_code == 400 and "resources.0" in r.text
    api = cora.post(
        "/api/v1/helpline/contacts/child",
        json={
            "channel": "chat",
            "contact_type": "child_about_self",
            "outcome": "referred",
            "resources": [adult_id],
        },
        headers={"X-CSRF-Token": cora_csrf},
    )
    assert api.status_code == 201, api.text
    r = sup.post(f"/console/helpline/resources/{teen_id}/retire", data={"csrf_token": sup_csrf})
    assert r.status_code == 409
    r = sup.post(f"/console/helpline/resources/{teen_id}/restore", data={"csrf_token": sup_csrf})
    assert r.status_code == 200
    with transaction(session_factory) as s:
        actions = [e.action for e in s.execute(select(AuditEntry)).scalars()]
        assert actions.count("helpline.resource.saved") == 5
    # The trend page, CSV and JSON offer the resource dimension (the running month is left out).
    year = datetime.now(UTC).year
    page = sup.get("/console/helpline/trends", params={"year": year, "by": "resource"})
    assert page.status_code == 200 and "Counting resource referrals" in page.text
    csv_text = sup.get("/api/v1/helpline/trends.csv", params={"year": year, "by": "resource"}).text
    assert csv_text.splitlines()[0] == "period,adult-line,teen-line,unknown,total"


@pytest.fixture
def cli(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("OPENHOTLINE_DATABASE_URL", db_url)
    monkeypatch.setenv("OPENHOTLINE_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


GOOD_CSV = """code,name,category,region,age_min,age_max,reach,description
line-a,Line A,mental_health,,,,0800 1,synthetic
line-b,Line B,legal_matters,south,18,,https://example.test/b,
"""


def test_cli_imports_a_csv_and_lists_each_bad_row(
    cli: CliRunner, tmp_path: Path, session_factory: sessionmaker[Session]
) -> None:
    good = tmp_path / "good.csv"
    good.write_text(GOOD_CSV, encoding="utf-8")
    result = cli.invoke(cli_app, ["helpline", "resources", "import", str(good)])
    assert result.exit_code == 0, result.output
    assert "imported 2 new and 0 updated" in result.output
    good.write_text(GOOD_CSV.replace("Line A", "Line A2"), encoding="utf-8")
    result = cli.invoke(cli_app, ["helpline", "resources", "import", str(good)])
    assert "imported 0 new and 2 updated" in result.output
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "code,name,category,region,age_min,age_max\n"
        "line-c,Line C,mental_health,,,\n"
        "Bad Code,Line D,astrology,,,\n"
        "line-e,Line E,mental_health,mars,20,10\n"
        "line-c,Line C again,mental_health,,x,\n",
        encoding="utf-8",
    )
    result = cli.invoke(cli_app, ["helpline", "resources", "import", str(bad)])
    assert result.exit_code == 1
    out = result.output
    assert "row 3: code:" in out and "row 3: category: unknown code 'astrology'" in out
    assert "row 4: region: unknown code 'mars'" in out and "row 4: age_max" in out
    assert "row 5: age_min: a whole number" in out
    assert "nothing imported: 5 problem(s)" in out and "Traceback" not in out
    with transaction(session_factory) as s:
        names = sorted(r.name for r in s.execute(select(HelplineResource)).scalars())
    assert names == ["Line A2", "Line B"]  # the bad file changed nothing
    header = tmp_path / "header.csv"
    header.write_text("name,colour\nx,red\n", encoding="utf-8")
    result = cli.invoke(cli_app, ["helpline", "resources", "import", str(header)])
    assert result.exit_code == 1
    assert "missing column(s) category, code" in result.output
    assert "unknown column(s) colour" in result.output
    result = cli.invoke(cli_app, ["helpline", "resources", "import", str(tmp_path / "none.csv")])
    assert result.exit_code != 0 and "Traceback" not in result.output
    listed = cli.invoke(cli_app, ["helpline", "resources", "list", "--region", "south"])
    assert listed.exit_code == 0 and "line-b,Line B" in listed.output
