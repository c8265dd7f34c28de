"""The annual export in Child Helpline International's shape: the mapping file, figures equal
to direct counts where shown, and no hidden figure recoverable from the totals or by
differencing with our own published trend tables (synthetic contacts only)."""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from openhotline.audit.models import AuditEntry
from openhotline.cli import app as cli_app
from openhotline.config import get_settings
from openhotline.db import transaction
from openhotline.helpline import chi, trends
from openhotline.helpline.models import HelplineContact
from openhotline.helpline.suppression import CountTable, suppress
from openhotline.helpline.taxonomy import UNKNOWN
from tests.console_fixtures import Staff, login
from tests.helpline.helpers import TAXONOMY, record
from tests.helpline.test_suppression import modp_determined, subtraction_attack

NOW = datetime(2026, 2, 10, tzinfo=UTC)
K = 5


def _weighted(rng: random.Random, codes: list[str | None]) -> str | None:
    # Skewed on purpose: the last codes are rare, so small counts occur and get suppressed.
    weights = [2.0 ** -(i // 2) for i in range(len(codes))]
    return rng.choices(codes, weights)[0]


def generate_year(session: Session, year: int, n: int, seed: int = 3) -> None:
    """n synthetic contacts over a year, with rare codes in every dimension."""
    rng = random.Random(seed)
    tx = TAXONOMY
    for _ in range(n):
        mode = "child" if rng.random() < 0.8 else "prevention"
        cats = list(tx.categories)
        raw = {
            "channel": _weighted(rng, list(tx.channels)),
            "contact_type": _weighted(rng, list(tx.contact_types_for(mode))),
            "categories": list({_weighted(rng, cats) for _ in range(rng.randint(0, 2))}),
            "age_band": _weighted(rng, [*tx.age_bands, None]),
            "gender": _weighted(rng, [*tx.genders, None]),
            "outcome": rng.choice(list(tx.outcomes)),
        }
        at = datetime(year, rng.randint(1, 12), rng.randint(1, 28), tzinfo=UTC)
        record(session, raw, mode, at=at)


def test_default_mapping_covers_the_taxonomy_and_bad_ones_are_refused() -> None:
    mapping = chi.load_mapping(TAXONOMY)
    assert set(mapping.lists) == set(chi.LISTS)
    assert "childhelplineinternational.org" in mapping.source
    reasons = mapping.lists["reasons"]
    assert reasons.sources["violence"] == [
        "violence",
        "sexual_abuse_exploitation",
        "online_sexual_exploitation",
    ]
    text = chi.DEFAULT_PATH.read_text(encoding="utf-8")
    for broken, message in (
        (text.replace('from = ["sms"]', "from = []"), "our codes sms map to no CHI code"),
        (text.replace('from = ["email"]', 'from = ["email", "phone"]'), "maps to both"),
        (text.replace('from = ["walk_in"]', 'from = ["pigeon"]'), "'pigeon' is not in our"),
        ("[[channels]\n", "not valid TOML"),
        ("version = 1\n", "needs a non-empty [[contact_kinds]]"),
    ):
        with pytest.raises(chi.ChiMappingError) as exc:
            chi.parse_mapping(broken, TAXONOMY)
        assert message in exc.value.message, exc.value.message


def _direct(session: Session, months: list[str]) -> dict[str, Counter[str]]:
    """Count our codes in Python, independently of the export's SQL."""
    out: dict[str, Counter[str]] = {dim: Counter() for dim, _c, _t in chi.LISTS.values()}
    for c in session.execute(select(HelplineContact)).scalars():
        if c.period not in months:
            continue
        for dim in ("contact_type", "channel", "age_band", "gender"):
            out[dim][getattr(c, dim) or UNKNOWN] += 1
        for cat in [x.category for x in c.categories] or [UNKNOWN]:
            out["category"][cat] += 1
    return out


def _table(export: chi.ChiExport, name: str, truth: list[int]) -> CountTable:
    """The true single-row table of one CHI list, with what the export hid."""
    figures = list(export.figures[name].values())
    total = export.contacts_total if name != "reasons" else export.mentions_total
    tb = CountTable([str(export.year)], list(export.figures[name]), [truth])
    tb.hidden = {(i, j) for j, v in enumerate(figures) if v is None for i in (0, 1)}
    if total is None:
        tb.hidden |= {(0, tb.n_cols), (1, tb.n_cols)}
    return tb


def test_figures_equal_direct_counts_and_hidden_ones_stay_hidden(
    session_factory: sessionmaker[Session],
) -> None:
    with transaction(session_factory) as s:
        generate_year(s, 2025, 260)
    with transaction(session_factory) as s:
        export = chi.chi_export(s, 2025, TAXONOMY, K, now=NOW)
        annual = trends.annual_export(s, 2025, TAXONOMY, K, NOW)
        direct = _direct(s, export.months)
    mapping = chi.load_mapping(TAXONOMY)
    assert len(export.months) == 12 and export.contacts_total == 260
    tables: dict[str, CountTable] = {}
    hidden = 0
    for name, (dim, _col, _tx) in chi.LISTS.items():
        lst = mapping.lists[name]
        truth = [sum(direct[dim][s] for s in lst.sources[code]) for code in lst.codes]
        assert sum(truth) == (260 if name != "reasons" else sum(direct["category"].values()))
        ours = annual[f"by_{dim}"]
        for code, true in zip(lst.codes, truth, strict=True):
            shown = export.figures[name][code]
            if shown is None:
                hidden += 1
                continue
            assert shown == true, (name, code)
            assert shown == 0 or shown >= K
            # Differencing: every figure shown is a sum of figures our trend tables show.
            assert all(ours[s] is not None for s in lst.sources[code]), (name, code)
            assert shown == sum(ours[s] for s in lst.sources[code])
        tables[name] = _table(export, name, truth)
    assert hidden >= 2, "the generated year must exercise suppression"
    for tb in tables.values():
        for pos in tb.positions():
            if 0 < tb.value(pos) < K:
                assert pos in tb.hidden, pos
    contact_group = [tables[n] for n in chi.CONTACT_LISTS]
    assert subtraction_attack(contact_group) == {}
    assert modp_determined(contact_group) == set()
    assert subtraction_attack([tables["reasons"]]) == {}
    assert modp_determined([tables["reasons"]]) == set()
    rows = export.as_csv().splitlines()
    assert rows[0] == "list,code,label,count" and rows[1] == "contacts,total,All contacts,260"
    assert all(r.rsplit(",", 1)[1] == "*" or r.rsplit(",", 1)[1].isdigit() for r in rows[1:])
    data = export.as_dict()
    assert data["format"] == "openhotline.helpline.chi/1"
    assert set(data) >= {
        "contacts_by_contact_kind",
        "contacts_by_channel",
        "contacts_by_age_group",
        "contacts_by_gender",
        "reasons_for_contact",
    }


def test_a_tiny_year_shows_nothing_but_zeros(session_factory: sessionmaker[Session]) -> None:
    with transaction(session_factory) as s:
        generate_year(s, 2025, 3)
    with transaction(session_factory) as s:
        export = chi.chi_export(s, 2025, TAXONOMY, K, now=NOW)
        with pytest.raises(chi.InvalidError):
            chi.chi_export(s, 2027, TAXONOMY, K, now=NOW)
    assert export.contacts_total is None
    assert all(v in (None, 0) for f in export.figures.values() for v in f.values())


@pytest.fixture
def cli(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("OPENHOTLINE_DATABASE_URL", db_url)
    monkeypatch.setenv("OPENHOTLINE_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def test_cli_and_console_download(
    cli: CliRunner,
    tmp_path: Path,
    session_factory: sessionmaker[Session],
    new_client: Callable[[], TestClient],
    make_user: Callable[..., Staff],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with transaction(session_factory) as s:
        generate_year(s, 2024, 60, seed=5)
    out = tmp_path / "chi.json"
    result = cli.invoke(
        cli_app, ["helpline", "export-chi", "--year", "2024", "--format", "json", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["year"] == 2024 and data["contacts_total"] == 60
    result = cli.invoke(cli_app, ["helpline", "export-chi", "--year", "2024"])
    assert result.exit_code == 0 and result.output.startswith("list,code,label,count\n")
    bad = cli.invoke(cli_app, ["helpline", "export-chi", "--year", "2024", "--format", "xml"])
    assert bad.exit_code == 1 and "csv or json" in bad.output
    future = cli.invoke(cli_app, ["helpline", "export-chi", "--year", "2099"])
    assert future.exit_code == 1 and "no ended month" in future.output
    own = tmp_path / "own-chi.toml"
    own.write_text(chi.DEFAULT_PATH.read_text(encoding="utf-8").replace('"walk_in"', '"x"'))
    monkeypatch.setenv("OPENHOTLINE_HELPLINE_CHI_MAPPING_PATH", str(own))
    get_settings.cache_clear()
    broken = cli.invoke(cli_app, ["helpline", "export-chi", "--year", "2024"])
    assert broken.exit_code == 1 and "'x' is not in our channels" in broken.output
    assert "Traceback" not in broken.output
    monkeypatch.delenv("OPENHOTLINE_HELPLINE_CHI_MAPPING_PATH")
    get_settings.cache_clear()

    sup = new_client()
    login(sup, make_user("sam", "helpline_supervisor"))
    r = sup.get("/console/helpline/chi", params={"year": 2024})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "helpline-chi-2024.csv" in r.headers["content-disposition"]
    r = sup.get("/console/helpline/chi", params={"year": 2024, "format": "json"})
    assert r.json()["contacts_total"] == 60
    assert sup.get("/console/helpline/chi", params={"year": 2099}).status_code == 400
    assert sup.get("/console/helpline/chi", params={"format": "xml"}).status_code == 400
    assert "/console/helpline/chi?year=" in sup.get("/console/helpline/trends").text
    cora = new_client()
    login(cora, make_user("cora", "counsellor"))
    assert cora.get("/console/helpline/chi", params={"year": 2024}).status_code == 403
    with transaction(session_factory) as s:
        actions = [e.action for e in s.execute(select(AuditEntry)).scalars()]
        assert actions.count("helpline.chi.exported") == 4


def test_forced_cells_stay_hidden_and_protected_in_linked_one_row_tables() -> None:
    """suppress(forced=...) as the CHI export uses it, on random linked one-row tables."""
    rng = random.Random(0)
    for _ in range(300):
        total = rng.choice([0, 1, 3, 5, 8, 20, 60])
        group, forced = [], []
        for n in (rng.randint(1, 5) for _ in range(rng.randint(1, 3))):
            cells = [0] * n
            for _ in range(total):
                cells[min(int(rng.expovariate(1.0)), n - 1)] += 1
            group.append(CountTable(["y"], [str(i) for i in range(n)], [cells]))
            cols = [j for j in range(n + 1) if rng.random() < (0.1 if j == n else 0.3)]
            forced.append({(i, j) for j in cols for i in (0, 1)})
        suppress(group, K, forced=forced)
        for tb, f in zip(group, forced, strict=True):
            assert all(p in tb.hidden for p in f if tb.value(p) != 0)
        assert subtraction_attack(group) == {}
        assert modp_determined(group) == set()
