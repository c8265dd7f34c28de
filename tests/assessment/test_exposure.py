"""Reveals: one at a time, audited, counted toward the daily exposure budget."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from openhotline.assessment import exposure, queue, service
from openhotline.assessment.models import Reveal
from openhotline.assessment.policy import policy_from
from openhotline.audit import service as audit
from openhotline.clock import FixedClock
from openhotline.db import transaction
from tests.console_fixtures import Items, Staff

# These tests back-date reveals; on the wall clock they failed in the first hour of a UTC
# day (the reveal fell on the day before). They run at a fixed time of day instead.
NOON = "2026-12-01T12:00:00+00:00"
at_noon = pytest.mark.parametrize("clock", [NOON], indirect=True)


@at_noon
def test_reveal_needs_a_claim_and_counts_until_hidden(
    items: Items,
    make_user: Callable[..., Staff],
    session_factory: sessionmaker[Session],
    clock: FixedClock,
) -> None:
    policy = policy_from(exposure_budget_minutes=10, reveal_window_seconds=120)
    ana = make_user("ana")
    actor = service.Actor(ana.id, "user:ana")
    a = items.item(1, items.case("http://example.test/1"))
    b = items.item(2, items.case("http://example.test/2"))
    with pytest.raises(service.AssessmentError, match="claim"), transaction(session_factory) as s:
        exposure.reveal(s, a, ana.id, "user:ana", policy)
    with transaction(session_factory) as s:
        queue.claim(s, a, actor, policy)
        queue.claim(s, b, actor, policy)
        first = exposure.reveal(s, a, ana.id, "user:ana", policy)
        assert exposure.open_reveal(s, ana.id, a) is not None
        # Pretend the first reveal started 30 s ago, then reveal another: the first closes.
        s.execute(
            update(Reveal)
            .where(Reveal.id == first.id)
            .values(started_at=clock.now() - timedelta(seconds=30))
        )
        exposure.reveal(s, b, ana.id, "user:ana", policy)
        assert exposure.open_reveal(s, ana.id, a) is None
        exposure.hide(s, ana.id, "user:ana")
        assert exposure.open_reveal(s, ana.id, b) is None
        budget = exposure.budget_of(s, ana.id, policy)
        assert 30 <= budget.used_seconds <= 33 and budget.reveals == 2
        actions = [e.action for e in audit.recent(s, action_prefix="item.")]
    assert actions.count("item.reveal") == 2 and "item.hide" in actions


@at_noon
def test_budget_runs_out(
    items: Items,
    make_user: Callable[..., Staff],
    session_factory: sessionmaker[Session],
    clock: FixedClock,
) -> None:
    policy = policy_from(exposure_budget_minutes=1, reveal_window_seconds=120)
    ana = make_user("ana")
    a = items.item(1, items.case("http://example.test/1"))
    with transaction(session_factory) as s:
        queue.claim(s, a, service.Actor(ana.id, "user:ana"), policy)
        row = exposure.reveal(s, a, ana.id, "user:ana", policy)
        # The window is clipped to what is left of the budget.
        assert (row.ends_at - row.started_at).total_seconds() == 60
        s.execute(
            update(Reveal)
            .where(Reveal.id == row.id)
            .values(
                started_at=clock.now() - timedelta(seconds=61),
                ends_at=clock.now() - timedelta(seconds=1),
            )
        )
    with transaction(session_factory) as s:
        assert exposure.budget_of(s, ana.id, policy).exhausted
        with pytest.raises(exposure.BudgetExhaustedError, match="stop"):
            exposure.reveal(s, a, ana.id, "user:ana", policy)
        rows = exposure.exposure_today(s, policy)
    assert [(r.username, r.budget.exhausted) for r in rows] == [("ana", True)]


@at_noon
def test_window_ends_by_itself(
    items: Items,
    make_user: Callable[..., Staff],
    session_factory: sessionmaker[Session],
    clock: FixedClock,
) -> None:
    policy = policy_from(reveal_window_seconds=120)
    ana = make_user("ana")
    a = items.item(1, items.case("http://example.test/1"))
    with transaction(session_factory) as s:
        queue.claim(s, a, service.Actor(ana.id, "user:ana"), policy)
        row = exposure.reveal(s, a, ana.id, "user:ana", policy)
        s.execute(
            update(Reveal)
            .where(Reveal.id == row.id)
            .values(
                started_at=clock.now() - timedelta(hours=1),
                ends_at=clock.now() - timedelta(minutes=58),
            )
        )
    with transaction(session_factory) as s:
        assert exposure.open_reveal(s, ana.id, a) is None
        assert exposure.budget_of(s, ana.id, policy).used_seconds == 120


def _reveal_setup(
    items: Items, make_user: Callable[..., Staff], session_factory: sessionmaker[Session]
) -> tuple[int, int]:
    ana = make_user("ana")
    item = items.item(1, items.case("http://example.test/1"))
    with transaction(session_factory) as s:
        queue.claim(s, item, service.Actor(ana.id, "user:ana"), policy_from())
    return ana.id, item


@pytest.mark.parametrize("clock", ["2026-12-01T01:30:00+00:00"], indirect=True)
def test_budget_at_half_past_one_counts_today_only(
    items: Items,
    make_user: Callable[..., Staff],
    session_factory: sessionmaker[Session],
    clock: FixedClock,
) -> None:
    policy = policy_from(exposure_budget_minutes=5, reveal_window_seconds=300)
    ana, item = _reveal_setup(items, make_user, session_factory)
    with transaction(session_factory) as s:
        exposure.reveal(s, item, ana, "user:ana", policy)
    clock.advance(timedelta(seconds=120))
    with transaction(session_factory) as s:
        assert exposure.budget_of(s, ana, policy).used_seconds == 120
    clock.advance(timedelta(seconds=200))  # the 300 s window ended 20 s ago: budget used up
    with transaction(session_factory) as s:
        budget = exposure.budget_of(s, ana, policy)
        assert (budget.used_seconds, budget.exhausted) == (300, True)
        with pytest.raises(exposure.BudgetExhaustedError):
            exposure.reveal(s, item, ana, "user:ana", policy)
    clock.set(datetime.fromisoformat("2026-12-02T00:00:00+00:00"))  # a new UTC day
    with transaction(session_factory) as s:
        assert exposure.budget_of(s, ana, policy).used_seconds == 0
        queue.claim(s, item, service.Actor(ana, "user:ana"), policy)  # the old claim expired
        exposure.reveal(s, item, ana, "user:ana", policy)


@pytest.mark.parametrize("clock", ["2026-12-01T23:59:00+00:00"], indirect=True)
def test_reveal_over_midnight_counts_toward_each_day(
    items: Items,
    make_user: Callable[..., Staff],
    session_factory: sessionmaker[Session],
    clock: FixedClock,
) -> None:
    policy = policy_from(exposure_budget_minutes=5, reveal_window_seconds=120)
    ana, item = _reveal_setup(items, make_user, session_factory)
    with transaction(session_factory) as s:
        exposure.reveal(s, item, ana, "user:ana", policy)  # 23:59:00 to 00:01:00
    clock.advance(timedelta(seconds=50))
    with transaction(session_factory) as s:
        assert exposure.budget_of(s, ana, policy).used_seconds == 50
    clock.advance(timedelta(seconds=40))  # 00:00:30: half a minute of the new day is used
    with transaction(session_factory) as s:
        budget = exposure.budget_of(s, ana, policy)
        assert (budget.used_seconds, budget.reveals) == (30, 1)
        assert exposure.open_reveal(s, ana, item) is not None
    clock.advance(timedelta(minutes=5))  # the window ended at 00:01:00
    with transaction(session_factory) as s:
        assert exposure.budget_of(s, ana, policy).used_seconds == 60
        exposure.hide(s, ana, "user:ana")
        rows = exposure.exposure_today(s, policy)
    assert [(r.username, r.budget.used_seconds) for r in rows] == [("ana", 60)]
