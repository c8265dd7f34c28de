"""Victim-identification console forms, JSON routes and CLI: edits are audited, notes and
clues encrypted, bad input a clear 4xx (or a one-line CLI error), never a traceback."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from openhotline.app import create_app
from openhotline.assessment import exposure
from openhotline.assessment.models import Reveal
from openhotline.assessment.policy import policy_in_force
from openhotline.audit.models import AuditEntry
from openhotline.clock import Clock
from openhotline.config import Settings
from openhotline.db import transaction
from openhotline.exports.service import decrypt_file, read_package, verify_package
from openhotline.media.service import hash_file
from openhotline.victimid import service
from openhotline.victimid.models import Alert, Series, SeriesItem
from tests.console_fixtures import Items, Staff, login
from tests.victimid.support import variant

pytestmark = pytest.mark.db


def _series_ids(factory: sessionmaker[Session]) -> list[int]:
    with factory() as s:
        return list(s.scalars(select(Series.id).order_by(Series.id)))


def test_series_forms_merge_remove_notes_and_bad_input(
    new_client: Callable[[], TestClient],
    make_user: Callable[..., Staff],
    items: Items,
    session_factory: sessionmaker[Session],
) -> None:
    c = new_client()
    csrf = login(c, make_user("vera", "victim-identification"))
    one, two, three = (items.item(0, data=variant(61, k)) for k in range(3))
    post = c.post
    bad = post("/console/victimid/series", data={"csrf_token": csrf, "item_ids": "1 x"})
    assert bad.status_code == 400 and "item ids are numbers" in bad.text
    missing = post("/console/victimid/series", data={"csrf_token": csrf, "item_ids": "999"})
    assert missing.status_code == 404 and "no item 999" in missing.text
    assert _series_ids(session_factory) == []  # nothing half-made
    for ids in (f"{one} {two}", str(three)):
        r = post("/console/victimid/series", data={"csrf_token": csrf, "item_ids": ids},
                 follow_redirects=False)  # fmt: skip
        assert r.status_code == 303
    first, second = _series_ids(session_factory)
    form = {"csrf_token": csrf, "victim_status": "sideways"}
    r = post(f"/console/victimid/series/{first}/fields", data=form)
    assert r.status_code == 400 and "unknown victim status" in r.text
    form = {"csrf_token": csrf, "victim_status": "not_identified", "age_band": "ancient"}
    assert "unknown age band" in post(f"/console/victimid/series/{first}/fields", data=form).text
    form = {"csrf_token": csrf, "victim_status": "identified", "new_material_since": "soon"}
    assert post(f"/console/victimid/series/{first}/fields", data=form).status_code == 400
    form = {"csrf_token": csrf, "victim_status": "not_identified", "police_reference": "P-9",
            "age_band": "pubescent", "new_material_since": "2026-11-30"}  # fmt: skip
    assert post(f"/console/victimid/series/{first}/fields", data=form).status_code == 200
    notes = {"csrf_token": csrf, "notes": "note one", "clues": "clue one"}
    assert post(f"/console/victimid/series/{first}/notes", data=notes).status_code == 200
    page = c.get(f"/console/victimid/series/{first}")
    assert "clue one" in page.text and "P-9" in page.text
    # Merge the second series into the first, then take an item out again.
    with session_factory() as s:
        ref = s.get(Series, second).reference  # type: ignore[union-attr]
    merged = post(
        f"/console/victimid/series/{first}/merge", data={"csrf_token": csrf, "other": ref}
    )
    assert merged.status_code == 200 and "Series merged." in merged.text
    again = post(f"/console/victimid/series/{first}/merge", data={"csrf_token": csrf, "other": ref})
    assert again.status_code == 409 and "was merged into" in again.text
    r = post(f"/console/victimid/series/{first}/items/{one}/remove", data={"csrf_token": csrf})
    assert r.status_code == 200
    with session_factory() as s:
        members = set(s.scalars(select(SeriesItem.item_id).where(SeriesItem.series_id == first)))
        assert members == {two, three}
        series = s.get(Series, first)
        assert series is not None and series.notes_enc and b"note one" not in series.notes_enc
        actions = [a for a in s.scalars(select(AuditEntry.action)) if a.startswith("victimid.")]
        for action in ("series_create", "item_add", "series_update", "series_merge",
                       "item_remove", "clues_view"):  # fmt: skip
            assert f"victimid.{action}" in actions
        assert not any("clue one" in (d or "") for d in s.scalars(select(AuditEntry.details)))
    # The package download verifies with the instance key.
    z = post(f"/console/victimid/series/{first}/export", data={"csrf_token": csrf})
    assert z.status_code == 200 and z.headers["content-type"] == "application/zip"
    pub = c.app.state.services.signer.public_b64  # type: ignore[attr-defined]
    assert verify_package(z.content, pub)["series"] == series.reference
    # Over the API, clues travel encrypted under a key given once, beside the package.
    api = c.post(
        f"/api/v1/victimid/series/{first}/export?clues=true", headers={"X-CSRF-Token": csrf}
    )
    assert api.status_code == 200 and verify_package(api.content, pub)["clues"] is True
    key = base64.b64decode(api.headers["X-Openhotline-Package-Key"])
    blob = read_package(api.content)["clues.enc"]
    secret = json.loads(decrypt_file(AESGCM(key), blob, f"series:{series.reference}"))
    assert secret == {"notes": "note one", "clues": "clue one"}
    assert b"clue one" not in api.content


def test_known_list_upload_in_the_console_and_over_the_api(
    new_client: Callable[[], TestClient], make_user: Callable[..., Staff]
) -> None:
    c = new_client()
    csrf = login(c, make_user("vera", "victim-identification"))
    h = hash_file(variant(71, 0))
    listing = f"series,victim_status,hash_type,hash\nK-1,identified,md5,{h.md5}\nK-1,,md5,xyz\n"
    r = c.post(
        "/console/victimid/known-lists",
        data={"csrf_token": csrf, "bank": "police-known", "source": "police"},
        files={"file": ("list.csv", listing.encode(), "text/csv")},
    )
    assert r.status_code == 200, r.text
    assert "1 hashes added" in r.text and "1 series created" in r.text and "line 3" in r.text
    r = c.post(
        "/console/victimid/known-lists",
        data={"csrf_token": csrf, "bank": "police-known"},
        files={"file": ("list.csv", b"a,b\n1,2\n", "text/csv")},
    )
    assert r.status_code == 400 and "missing: series, type, value" in r.text
    body = {"series": [{"reference": "K-2", "victim_status": "not identified",
                        "hashes": [{"type": "sha256", "value": h.sha256}]}]}  # fmt: skip
    headers = {"X-CSRF-Token": csrf, "Content-Type": "application/json"}
    api = c.post(
        "/api/v1/victimid/known-lists/police-known?source=police",
        content=json.dumps(body),
        headers=headers,
    )
    assert api.status_code == 200 and api.json()["series_created"] == 1
    listed = {s["reference"]: s for s in c.get("/api/v1/victimid/series").json()}
    assert listed["K-2"]["victim_status"] == "not_identified"
    assert listed["K-1"]["origin"] == "list:police-known"
    page = c.get(f"/console/victimid/series/{listed['K-1']['id']}")
    assert "1 hashes of this series are in the hash bank police-known" in page.text
    form = c.post("/api/v1/victimid/known-lists/x", data={"a": "b"}, headers={"X-CSRF-Token": csrf})
    assert form.status_code == 422 and "not a form" in form.text


def test_cli_imports_a_list_scans_and_exports(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, items: Items,
    session_factory: sessionmaker[Session],
) -> None:  # fmt: skip
    from typer.testing import CliRunner

    from openhotline.cli import app
    from openhotline.config import get_settings

    monkeypatch.setenv("OPENHOTLINE_DATABASE_URL", db_url)
    monkeypatch.setenv("OPENHOTLINE_DATA_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    try:
        item = items.item(0, data=variant(81, 0))
        sha = hash_file(variant(81, 0)).sha256
        listing = tmp_path / "list.csv"
        listing.write_text(
            f"series,victim_status,hash_type,hash\nC-1,not_identified,sha256,{sha}\n"
        )
        run = CliRunner().invoke
        r = run(app, ["victimid", "import-list", str(listing), "--bank", "cli-known"])
        assert r.exit_code == 0 and "1 hashes added" in r.output, r.output
        r = run(app, ["victimid", "scan"])
        assert r.exit_code == 0 and "1 matches, 1 alerts" in r.output, r.output
        with session_factory() as s:
            [(_match, series)] = service.matches_of_item(s, item)
            assert service.describe_match(series) == "known series C-1, victim not identified"
        out = tmp_path / "s.zip"
        assert run(app, ["victimid", "export", str(series.id), str(out)]).exit_code == 0
        bad = run(app, ["victimid", "import-list", str(tmp_path / "none.csv"), "--bank", "b"])
        assert bad.exit_code != 0 and "cannot read" in bad.output
        bad = run(app, ["victimid", "import", str(out), "--sender", "ZZ"])
        assert bad.exit_code != 0 and "no partner hotline configured for ZZ" in bad.output
    finally:
        get_settings.cache_clear()


def test_opening_series_items_spends_the_exposure_budget(
    console_settings: Settings,
    clock: Clock,
    make_user: Callable[..., Staff],
    items: Items,
    session_factory: sessionmaker[Session],
) -> None:
    settings = console_settings.model_copy(update={"exposure_budget_minutes": 1})
    vera = make_user("vera", "victim-identification")
    member, stranger = items.item(0, data=variant(91, 0)), items.item(0, data=variant(92, 0))
    with transaction(session_factory) as s:
        series = service.create_series(s, actor="user:vera")
        service.add_item(s, series, member, actor="user:vera")
        series_id = series.id
    with TestClient(create_app(settings, clock=clock)) as c:
        csrf = login(c, vera)
        form = {"csrf_token": csrf, "series": str(series_id)}
        # Only series items open here (no back door to any item).
        refused = c.post(f"/console/victimid/items/{stranger}/open", data=form)
        assert refused.status_code == 403 and "not a series item" in refused.text
        assert c.get(f"/console/victimid/items/{stranger}/preview").status_code == 404
        opened = c.post(f"/console/victimid/items/{member}/open", data=form, follow_redirects=False)
        assert opened.status_code == 303
        with transaction(session_factory) as s:  # the whole minute is used up
            s.execute(
                update(Reveal).values(
                    started_at=clock.now() - timedelta(seconds=61),
                    ends_at=clock.now() - timedelta(seconds=1),
                )
            )
        again = c.post(f"/console/victimid/items/{member}/open", data=form)
        assert again.status_code == 403 and "exposure budget" in again.text
    with session_factory() as s:
        policy = policy_in_force(settings, s)
        rows = {r.username: r.budget.exhausted for r in exposure.exposure_today(s, policy)}
        assert rows == {"vera": True}  # supervisors see the VID role's exposure too
        actions = list(s.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))
        assert actions.count("item.reveal") == 1 and "item.reveal_refused" in actions


def test_new_material_joining_an_unidentified_series_alerts_once(
    new_client: Callable[[], TestClient],
    make_user: Callable[..., Staff],
    items: Items,
    session_factory: sessionmaker[Session],
) -> None:
    c = new_client()
    csrf = login(c, make_user("vera", "victim-identification"))
    old = items.item(0, data=variant(95, 0))
    r = c.post("/console/victimid/series", data={"csrf_token": csrf, "item_ids": str(old)},
               follow_redirects=False)  # fmt: skip
    [series_id] = _series_ids(session_factory)
    assert r.status_code == 303
    new = items.item(0, data=variant(95, 1))  # arrives after the series was made
    for _ in range(2):
        r = c.post(f"/console/victimid/series/{series_id}/items",
                   data={"csrf_token": csrf, "item_id": str(new)})  # fmt: skip
        assert r.status_code == 200
    with session_factory() as s:
        alerts = list(s.scalars(select(Alert)))
        assert [(a.item_id, a.reason) for a in alerts] == [(new, "new material: joined the series")]
    home = c.get("/console/victimid/")
    assert "joined the series" in home.text
    # Identified victims raise no alert.
    c.post(f"/console/victimid/series/{series_id}/fields",
           data={"csrf_token": csrf, "victim_status": "identified"})  # fmt: skip
    newer = items.item(0, data=variant(95, 2))
    c.post(f"/console/victimid/series/{series_id}/items",
           data={"csrf_token": csrf, "item_id": str(newer)})  # fmt: skip
    with session_factory() as s:
        assert len(list(s.scalars(select(Alert)))) == 1
