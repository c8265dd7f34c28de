"""Statistics over a generated year, checked against counts kept while generating it."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from openhotline.clock import Clock, FixedClock
from openhotline.errors import InvalidError
from openhotline.helpline.suppression import CountTable, derivable
from openhotline.stats import service
from openhotline.takedown.models import Referral
from tests.stats.history import HOSTS, START, Truth, fill

pytestmark = pytest.mark.parametrize("clock", ["2026-01-01T00:00:00+00:00"], indirect=True)
N = 400


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


@pytest.fixture
def history(session_factory: sessionmaker[Session], clock: Clock) -> Truth:
    assert isinstance(clock, FixedClock)
    return fill(session_factory, clock, N)


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
