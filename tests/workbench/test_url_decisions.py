"""A case is actioned as soon as ONE item (or a URL-level decision) is confirmed illegal."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from openhotline.assessment import queue, service, url_decisions
from openhotline.assessment.models import ItemReview, ReviewState
from openhotline.assessment.policy import policy_from
from openhotline.audit import service as audit
from openhotline.cases.models import Case, CaseStatus
from openhotline.db import transaction
from openhotline.errors import NotFoundError
from openhotline.takedown import service as takedown
from tests.console_fixtures import Items, Staff

POLICY = policy_from()


def _actor(staff: Staff) -> service.Actor:
    return service.Actor(staff.id, f"user:{staff.username}")


def _grade(factory: sessionmaker[Session], item_id: int, staff: Staff, code: str) -> str:
    with transaction(factory) as s:
        queue.claim(s, item_id, _actor(staff), POLICY)
        return service.assess(s, item_id, _actor(staff), code, {}, POLICY).state.value


def _status(factory: sessionmaker[Session], case_id: int) -> CaseStatus:
    with factory() as s:
        case = s.get(Case, case_id)
        assert case is not None
        return case.status


@pytest.fixture
def staff(make_user: Callable[..., Staff]) -> list[Staff]:
    """Three analysts and a supervisor (last)."""
    return [make_user("ana"), make_user("ben"), make_user("cat"), make_user("sue", "supervisor")]


def test_one_confirmed_item_actions_the_case_while_others_wait(
    items: Items, staff: list[Staff], session_factory: sessionmaker[Session]
) -> None:
    ana, ben, cat, _sue = staff
    case_id = items.case("http://example.test/three")
    first, second, third = (items.item(seed, case_id) for seed in (11, 12, 13))
    with transaction(session_factory) as s:
        service.route_new_items(s)
    assert _grade(session_factory, first, ana, "baseline") == "confirming"
    assert _status(session_factory, case_id) == CaseStatus.ASSESSING  # not yet four eyes
    assert _grade(session_factory, first, ben, "baseline") == "decided"
    # Before: the case waited until the other two items were graded too.
    assert _status(session_factory, case_id) == CaseStatus.ASSESSED
    with session_factory() as s:
        assert takedown.cases_to_route(s) == [case_id]
        # The other two items stay in the queue for hash lists and statistics.
        waiting = [e.item_id for e in queue.list_queue(s, _actor(cat))]
        assert waiting == [second, third]
    assert _grade(session_factory, second, cat, "not_illegal") == "decided"
    assert _grade(session_factory, third, cat, "not_illegal") == "decided"
    assert _status(session_factory, case_id) == CaseStatus.ASSESSED  # no flip to closed


def test_nothing_illegal_still_closes_only_when_every_item_is_graded(
    items: Items, staff: list[Staff], session_factory: sessionmaker[Session]
) -> None:
    ana = staff[0]
    case_id = items.case("http://example.test/two")
    one, two = items.item(21, case_id), items.item(22, case_id)
    with transaction(session_factory) as s:
        service.route_new_items(s)
    _grade(session_factory, one, ana, "not_illegal")
    assert _status(session_factory, case_id) == CaseStatus.ASSESSING
    _grade(session_factory, two, ana, "not_illegal")
    assert _status(session_factory, case_id) == CaseStatus.CLOSED


def test_a_case_whose_item_is_already_known_is_settled_with_others_open(
    items: Items, staff: list[Staff], session_factory: sessionmaker[Session]
) -> None:
    ana, ben, _cat, _sue = staff
    first_case = items.case("http://example.test/first")
    known = items.item(31, first_case)
    with transaction(session_factory) as s:
        service.route_new_items(s)
    _grade(session_factory, known, ana, "baseline")
    _grade(session_factory, known, ben, "baseline")
    # The same item re-found on another case beside a new one: known material actions it.
    other = items.case("http://example.test/other")
    items.item(31, other)
    items.item(32, other)
    with transaction(session_factory) as s:
        service.route_new_items(s)
        service.settle_known_cases(s)
    assert _status(session_factory, other) == CaseStatus.ASSESSED


def _decide(
    factory: sessionmaker[Session], case_id: int, who: Staff, code: str, **values: str
) -> str:
    with transaction(factory) as s:
        return url_decisions.decide(s, case_id, _actor(who), code, values, POLICY).state.value


def test_two_analysts_agreeing_on_a_url_action_the_case(
    items: Items, staff: list[Staff], session_factory: sessionmaker[Session]
) -> None:
    ana, ben, _cat, _sue = staff
    case_id = items.case("http://example.test/js-gallery")
    assert _decide(session_factory, case_id, ana, "baseline") == "confirming"
    assert _status(session_factory, case_id) == CaseStatus.NEW
    with pytest.raises(service.AssessmentError, match="already"):
        _decide(session_factory, case_id, ana, "baseline")
    with session_factory() as s:
        # Blind: what a second analyst may see says only that a decision waits.
        view = url_decisions.view_for(s, case_id, ben.id)
        assert view.state == "confirming" and view.may_decide and view.classification is None
        assert url_decisions.view_for(s, case_id, ana.id).may_decide is False
    assert _decide(session_factory, case_id, ben, "baseline") == "decided"
    assert _status(session_factory, case_id) == CaseStatus.ASSESSED
    with session_factory() as s:
        assert takedown.cases_to_route(s) == [case_id]
        actions = [(e.action, e.target) for e in reversed(audit.recent(s))]
        assert ("assessment.grade", f"case:{case_id}") in actions
        assert ("assessment.confirm", f"case:{case_id}") in actions
        grades = url_decisions.decisions_of(s, case_id)
        assert [g.classification for g in grades] == ["baseline", "baseline"]


def test_url_decision_fields_are_validated_by_the_scheme(
    items: Items, staff: list[Staff], session_factory: sessionmaker[Session]
) -> None:
    case_id = items.case("http://example.test/fields")
    with pytest.raises(Exception, match="choose a classification"):
        _decide(session_factory, case_id, staff[0], "nonsense")
    with pytest.raises(NotFoundError):
        _decide(session_factory, 999_999, staff[0], "baseline")


def test_url_disagreement_goes_to_a_supervisor(
    items: Items, staff: list[Staff], session_factory: sessionmaker[Session]
) -> None:
    ana, ben, cat, sue = staff
    case_id = items.case("http://example.test/disputed")
    _decide(session_factory, case_id, ana, "baseline")
    assert _decide(session_factory, case_id, ben, "not_illegal") == "disputed"
    with pytest.raises(service.AssessmentError, match="supervisor"):
        _decide(session_factory, case_id, cat, "baseline")
    with session_factory() as s:
        assert [d.case_id for d in url_decisions.disputes(s)] == [case_id]
    with (
        transaction(session_factory) as s,
        pytest.raises(service.AssessmentError, match="yourself"),
    ):
        url_decisions.resolve(s, case_id, _actor(ana), "baseline", {}, POLICY)
    with transaction(session_factory) as s:
        out = url_decisions.resolve(s, case_id, _actor(sue), "baseline", {}, POLICY)
        assert out.state == ReviewState.DECIDED
    assert _status(session_factory, case_id) == CaseStatus.ASSESSED


def test_a_first_url_decision_that_is_not_illegal_closes_the_case(
    items: Items, staff: list[Staff], session_factory: sessionmaker[Session]
) -> None:
    case_id = items.case("http://example.test/benign")
    assert _decide(session_factory, case_id, staff[0], "not_illegal") == "decided"
    assert _status(session_factory, case_id) == CaseStatus.CLOSED


def test_url_decisions_are_refused_when_items_were_captured(
    items: Items, staff: list[Staff], session_factory: sessionmaker[Session]
) -> None:
    case_id = items.case("http://example.test/has-items")
    items.item(41, case_id)
    with pytest.raises(service.AssessmentError, match="grade the items"):
        _decide(session_factory, case_id, staff[0], "baseline")
    with session_factory() as s:
        assert s.execute(select(ItemReview)).first() is None
