"""Statistics over a generated year, checked against counts kept while generating it."""

from __future__ import annotations

import shutil
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from openhotline.clock import FixedClock
from openhotline.db import Base, make_engine, make_sessionmaker
from openhotline.errors import InvalidError
from openhotline.helpline.suppression import CountTable, derivable
from openhotline.stats import service
from openhotline.takedown.models import Referral
from tests.stats.history import HOSTS, START, Truth, fill

pytestmark = pytest.mark.db
N = 2500
FILL_SECONDS: list[float] = []
WEEK = timedelta(days=7)


def _timing(values: list[float]) -> dict[str, object]:
    ordered = sorted(values)
    n = len(ordered)
    if not n:
        return {
            "count": 0,
            "median_hours": None,
            "p90_hours": None,
            "within_24h": None,
            "within_72h": None,
            "within_7d": None,
        }
    rank = lambda q: ordered[max(-(-int(q * 100) * n // 100) - 1, 0)]  # noqa: E731
    return {
        "count": n,
        "median_hours": round(rank(0.5) / 3600, 2),
        "p90_hours": round(rank(0.9) / 3600, 2),
        "within_24h": round(sum(v <= 86400 for v in ordered) / n, 4),
        "within_72h": round(sum(v <= 3 * 86400 for v in ordered) / n, 4),
        "within_7d": round(sum(v <= 7 * 86400 for v in ordered) / n, 4),
    }


def _period(session_factory: sessionmaker[Session]) -> service.Period:
    with session_factory() as s:
        return service.parse_period(s, "2026-01-01", "2026-12-31")


@pytest.fixture(scope="module")
def _year(
    _migrated: str, db_backend: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[sessionmaker[Session], Truth]]:
    """One generated year for the whole module (the tests only read it)."""
    if db_backend == "sqlite":
        path = tmp_path_factory.mktemp("statsyear") / "year.db"
        shutil.copyfile(_migrated.removeprefix("sqlite:///"), path)
        url = f"sqlite:///{path}"
    else:
        url = _migrated
    engine = make_engine(url)
    if db_backend != "sqlite":
        tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        with engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    clock = FixedClock(START)
    factory = make_sessionmaker(engine, clock)
    began = time.perf_counter()
    truth = fill(factory, clock, N)
    FILL_SECONDS.append(time.perf_counter() - began)
    clock.set(START + timedelta(days=400))
    yield factory, truth
    engine.dispose()


@pytest.fixture
def session_factory(_year: tuple[sessionmaker[Session], Truth]) -> sessionmaker[Session]:
    return _year[0]


@pytest.fixture
def history(_year: tuple[sessionmaker[Session], Truth]) -> Truth:
    return _year[1]


def test_every_figure_matches_a_direct_count(
    session_factory: sessionmaker[Session], history: Truth
) -> None:
    t = history
    with session_factory() as s:
        figures = service.compute(s, _period(session_factory))
        referrals = Counter(
            (d, str(st)) for d, st in s.execute(select(Referral.destination, Referral.status))
        )
    assert figures["reports_by_source"] == t.sources
    assert figures["reports"] == figures["urls"] == N
    assert figures["assessed"] == len(t.assessed)
    assert figures["actionable"] == len(t.actioned)
    assert figures["actionable_share"] == round(len(t.actioned) / len(t.assessed), 4)
    countries = Counter(HOSTS[t.host[c]][0] if c in t.traced else "unknown" for c in t.created)
    assert figures["by_country"] == dict(countries)
    networks = Counter(HOSTS[t.host[c]][1] if c in t.traced else "unknown" for c in t.created)
    assert figures["by_network"] == dict(networks)
    assert figures["items"] == len(t.items)
    assert figures["items_by_classification"] == dict(Counter(c for c, _k in t.items.values()))
    assert figures["items_known"] == sum(k for _c, k in t.items.values())
    assert figures["items_new"] == sum(not k for _c, k in t.items.values())
    assert figures["notices_sent"] == t.notices_sent
    assert {(r["destination"], r["status"]): r["count"] for r in figures["referrals"]} == referrals
    assert figures["appeals"] == t.appeals
    for name in service.GRADING_FIELDS:
        direct = Counter(values[name] for values in t.item_fields.values())
        assert figures[f"items_by_{name}"] == dict(direct), name
    actioned_hosts = Counter(t.host[c] for c in t.actioned)
    repeat = {h: n for h, n in actioned_hosts.items() if n >= 2}
    assert figures["repeat_hosts"] == len(repeat) > 0
    assert figures["repeat_host_urls"] == sum(repeat.values())

    def hours(d: dict[int, object]) -> dict[int, float]:
        return {c: (at - t.created[c]).total_seconds() for c, at in d.items()}  # type: ignore[operator]

    measures = {
        "to_assessment": hours(t.assessed),  # type: ignore[arg-type]
        "to_notice": hours(t.noticed),  # type: ignore[arg-type]
        "to_removal": hours(t.removed),  # type: ignore[arg-type]
    }
    for name, values in measures.items():
        assert figures["timing"][name] == _timing(list(values.values())), name
    for host in HOSTS:
        for name, values in measures.items():
            mine = [v for c, v in values.items() if t.host[c] == host]
            got = figures["timing_by_host"].get(host, {}).get(name, _timing([]))
            assert got == _timing(mine), (host, name)
    by_country: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for name, values in measures.items():
        for c, v in values.items():
            country = HOSTS[t.host[c]][0] if c in t.traced else "unknown"
            by_country[country][name].append(v)
    for country, groups in by_country.items():
        for name in measures:
            assert figures["timing_by_country"][country][name] == _timing(groups[name])


def test_periods_split_the_year_and_compare_with_the_previous(
    session_factory: sessionmaker[Session], history: Truth
) -> None:
    with session_factory() as s:
        first = service.parse_period(s, "2026-01-01", "2026-06-30")
        second = service.parse_period(s, "2026-07-01", "2026-12-27")
        both = service.compare(s, second)
        a, b = service.compute(s, first), both["current"]
    assert a["urls"] + b["urls"] == N
    assert FILL_SECONDS and FILL_SECONDS[0] < 120  # measured: see the commit message
    half = START + timedelta(days=181)
    assert a["urls"] == sum(1 for at in history.created.values() if at < half)
    assert both["previous"]["period"]["start"] == (second.previous().start.date().isoformat())
    assert b["reports"] == sum(1 for at in history.created.values() if at >= half)


def test_bad_periods_are_clear_errors(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as s:
        with pytest.raises(InvalidError, match="YYYY-MM-DD"):
            service.parse_period(s, "last year", None)
        with pytest.raises(InvalidError, match="after"):
            service.parse_period(s, "2026-02-01", "2026-01-01")


def test_published_tables_hide_small_counts_and_resist_differencing(
    session_factory: sessionmaker[Session], history: Truth
) -> None:
    k = 10
    with session_factory() as s:
        figures = service.compute(s, _period(session_factory))
    out = service.published(figures, k)
    for name in service.COUNT_TABLES:
        table = out[name]
        values = [*table["rows"].values(), table["total"]]
        assert all(v is None or v == 0 or v >= k for v in values), name
        raw = figures[name]
        # An attacker with the published rows and total solves for the hidden ones.
        rows = list(raw)
        ct = CountTable(rows, ["count"], [[raw[r]] for r in rows])
        ct.hidden = {(i, 0) for i, r in enumerate(rows) if table["rows"][r] is None}
        ct.hidden |= {(i, 1) for i, r in enumerate(rows) if table["rows"][r] is None}
        if table["total"] is None:
            ct.hidden |= {(len(rows), 0), (len(rows), 1)}
        assert derivable([ct]) == [], name
    # A host or country is shown with its timing only when every figure rests on >= k cases.
    dropped = 0
    for group in ("timing_by_host", "timing_by_country"):
        for key, measures in figures[group].items():
            counts = [m["count"] for m in measures.values()]
            safe = all(c == 0 or c >= k for c in counts) and max(counts) >= k
            assert (key in out[group]) == safe, key
            dropped += not safe
    assert dropped > 0  # the generated history has small hosts
    assert figures["by_network"]["NetH"] < k and out["by_network"]["rows"]["NetH"] is None
    for r in out["referrals"]:
        assert r["count"] is None or r["count"] >= k
    csv_rows = service.to_csv_rows(out)
    assert ("by_network", "NetH", "count", None) in csv_rows


def _solve_hidden(tables: list[dict[str, object]]) -> list[tuple[str, int, int]]:
    """An attacker's view: hidden cells that the published tables pin down exactly.

    Independent of the suppression code: every table row and column sums to its published
    total, tables of one unit share their quarter totals and grand total, and a hidden
    cell is recovered when its unit vector lies in the row space of the equations.
    """
    import numpy as np

    var: dict[tuple[object, ...], int] = {}
    names: dict[int, tuple[str, int, int]] = {}

    def ref(t: dict[str, object], i: int, j: int) -> tuple[object, ...]:
        rows, cols = t["rows"], t["cols"]  # type: ignore[assignment]
        if j == len(cols) - 1:  # type: ignore[arg-type]
            return ("shared", t["unit"], rows[i])  # type: ignore[index]
        return (t["name"], i, j)

    eqs: list[tuple[dict[int, int], int]] = []
    for t in tables:
        cells: list[list[int | None]] = t["cells"]  # type: ignore[assignment]
        nr, nc = len(cells), len(cells[0])
        for i in range(nr):
            for j in range(nc):
                if cells[i][j] is None:
                    key = ref(t, i, j)
                    if key not in var:
                        var[key] = len(var)
                        names[var[key]] = (str(t["name"]), i, j)
        lines = [[(i, j) for j in range(nc)] for i in range(nr)]
        lines += [[(i, j) for i in range(nr)] for j in range(nc)]
        for line in lines:
            coef: dict[int, int] = {}
            for n, (i, j) in enumerate(line):
                sign = -1 if n == len(line) - 1 else 1
                if cells[i][j] is None:
                    v = var[ref(t, i, j)]
                    coef[v] = coef.get(v, 0) + sign
            if any(coef.values()):
                eqs.append((coef, 0))
    if not var:
        return []
    a = np.zeros((len(eqs), len(var)))
    for r, (coef, _rhs) in enumerate(eqs):
        for v, c in coef.items():
            a[r, v] = c
    rank = np.linalg.matrix_rank(a)
    found = []
    for v in range(len(var)):
        unit = np.zeros((1, len(var)))
        unit[0, v] = 1
        if np.linalg.matrix_rank(np.vstack([a, unit])) == rank:
            found.append(names[v])
    return found


def test_network_export_resists_differencing(
    session_factory: sessionmaker[Session], history: Truth
) -> None:
    from openhotline.stats import network

    k = 10
    with session_factory() as s:
        export = network.annual_export(s, 2026, k, "test-hotline")
        empty = network.annual_export(s, 2025, k, "test-hotline")
        with pytest.raises(InvalidError, match="not started"):
            network.annual_export(s, 2099, k, "x")
    tables = [{"name": n, **t} for n, t in export["tables"].items()]
    hidden = 0
    for t in tables:
        for row in t["cells"]:
            assert all(v is None or v == 0 or v >= k for v in row), t["name"]
            hidden += row.count(None)
    assert hidden > 0  # the generated year has small cells (a rare host, rare flags)
    # The attacker has this year's tables and last year's (disjoint periods), together.
    both = tables + [{"name": f"2025/{n}", **t} for n, t in empty["tables"].items()]
    assert _solve_hidden(both) == []
    # Unsuppressed values agree with the direct counts kept while generating.
    by_country = export["tables"]["urls_by_hosting_country"]
    grand = by_country["cells"][-1][-1]
    assert grand is None or grand == len(history.actioned_at)
    quarters = Counter((at.month - 1) // 3 for at in history.actioned_at.values())
    for q in range(4):
        shown = by_country["cells"][q][-1]
        assert shown is None or shown == quarters[q]
    items = export["tables"]["items_by_age_band"]
    direct = Counter(f["age_band"] for f in history.item_fields.values())
    for j, col in enumerate(items["cols"][:-1]):
        shown = items["cells"][-1][j]
        assert shown is None or shown == direct[col], col
    rows = network.csv_rows(export)
    assert rows[0] == ["year", "table", "unit", "quarter", "category", "count"]
    assert any(r[5] == "" for r in rows[1:])


def test_host_accountability_names_only_providers_with_enough_notices(
    session_factory: sessionmaker[Session], history: Truth
) -> None:
    from openhotline.stats import hosts

    k = 25
    with session_factory() as s:
        tables = hosts.accountability(s, _period(session_factory), k)
    per_provider: dict[str, list[int]] = defaultdict(list)
    for c in history.noticed:
        per_provider[HOSTS[history.host[c]][1]].append(c)
    named = {r["name"]: r for r in tables["providers"]["rows"]}
    assert set(named) == {p for p, cs in per_provider.items() if len(cs) >= k}
    assert "NetH" not in named and tables["providers"]["hidden_groups"] > 0
    for provider, r in named.items():
        cases = per_provider[provider]
        hours = sorted(
            max((history.removed[c] - history.noticed[c]).total_seconds() / 3600, 0)
            for c in cases
            if c in history.removed
        )
        assert r["notices"] == len(cases) and r["removed"] == len(hours)
        assert r["median_hours"] == round(hours[max(-(-len(hours) // 2) - 1, 0)], 1)
        assert r["within_24h"] == round(sum(h <= 24 for h in hours) / len(cases), 4)
        online = sum(
            1
            for c in cases
            if c not in history.removed or history.removed[c] - history.noticed[c] > WEEK
        )
        assert r["online_after_7d"] == round(online / len(cases), 4)
    total = tables["providers"]["total"]
    assert total is None or total["notices"] == len(history.noticed)
    with pytest.raises(ValueError):
        hosts.accountability(session_factory(), _period(session_factory), 1)
