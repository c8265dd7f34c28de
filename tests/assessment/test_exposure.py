"""Reveals: one at a time, audited, counted toward the daily exposure budget."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from openhotline.assessment import exposure, queue, service
from openhotline.assessment.models import Reveal
from openhotline.assessment.policy import policy_from
from openhotline.audit import service as audit
from openhotline.db import transaction, utcnow
from tests.console_fixtures import Items, Staff


def test_reveal_needs_a_claim_and_counts_until_hidden(
    items: Items, make_user: Callable[..., Staff], session_factory: sessionmaker[Session]
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
            .values(started_at=utcnow() - timedelta(seconds=30))
        )
        exposure.reveal(s, b, ana.id, "user:ana", policy)
        assert exposure.open_reveal(s, ana.id, a) is None
        exposure.hide(s, ana.id, "user:ana")
        assert exposure.open_reveal(s, ana.id, b) is None
        budget = exposure.budget_of(s, ana.id, policy)
        assert 30 <= budget.used_seconds <= 33 and budget.reveals == 2
        actions = [e.action for e in audit.recent(s, action_prefix="item.")]
    assert actions.count("item.reveal") == 2 and "item.hide" in actions


def test_budget_runs_out(
    items: Items, make_user: Callable[..., Staff], session_factory: sessionmaker[Session]
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
                started_at=utcnow() - timedelta(seconds=61), ends_at=utcnow() - timedelta(seconds=1)
            )
        )
    with transaction(session_factory) as s:
        assert exposure.budget_of(s, ana.id, policy).exhausted
        with pytest.raises(exposure.BudgetExhaustedError, match="stop"):
            exposure.reveal(s, a, ana.id, "user:ana", policy)
        rows = exposure.exposure_today(s, policy)
    assert [(r.username, r.budget.exhausted) for r in rows] == [("ana", True)]


def test_window_ends_by_itself(
    items: Items, make_user: Callable[..., Staff], session_factory: sessionmaker[Session]
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
                started_at=utcnow() - timedelta(hours=1), ends_at=utcnow() - timedelta(minutes=58)
            )
        )
    with transaction(session_factory) as s:
        assert exposure.open_reveal(s, ana.id, a) is None
        assert exposure.budget_of(s, ana.id, policy).used_seconds == 120
