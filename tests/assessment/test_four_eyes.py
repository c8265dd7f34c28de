"""Four eyes: illegal grades need distinct agreeing analysts before hashes enter the bank."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from openhotline.assessment import banks, queue, service
from openhotline.assessment.models import ItemReview, ReviewState
from openhotline.assessment.policy import policy_from
from openhotline.audit import service as audit
from openhotline.cases.models import Case
from openhotline.db import transaction
from openhotline.media.models import Item, ItemStatus
from tests.console_fixtures import Items, Staff

POLICY = policy_from()


def _actor(staff: Staff) -> service.Actor:
    return service.Actor(staff.id, f"user:{staff.username}")


def _grade(
    factory: sessionmaker[Session], item_id: int, staff: Staff, code: str, policy: object = POLICY
) -> service.GradeOutcome:
    with transaction(factory) as s:
        queue.claim(s, item_id, _actor(staff), policy)  # type: ignore[arg-type]
        return service.assess(s, item_id, _actor(staff), code, {}, policy)  # type: ignore[arg-type]


def _route(factory: sessionmaker[Session]) -> tuple[int, int]:
    with transaction(factory) as s:
        return service.route_new_items(s)


@pytest.fixture
def analysts(make_user: Callable[..., Staff]) -> list[Staff]:
    """Three analysts and a supervisor (last)."""
    return [make_user("ana"), make_user("ben"), make_user("cat"), make_user("sue", "supervisor")]


def _review(factory: sessionmaker[Session], item_id: int) -> ItemReview:
    with factory() as s:
        review = s.get(ItemReview, item_id)
        assert review is not None
        return review


def test_two_agreeing_analysts_admit_hashes(
    items: Items, analysts: list[Staff], session_factory: sessionmaker[Session]
) -> None:
    case_id = items.case("http://example.test/a")
    item_id = items.item(1, case_id)
    assert _route(session_factory) == (0, 1)
    first = _grade(session_factory, item_id, analysts[0], "baseline")
    assert first.state == ReviewState.CONFIRMING
    with session_factory() as s:
        item = s.get(Item, item_id)
        assert item is not None and banks.find_confirmed_match(s, item) is None
    with pytest.raises(service.AssessmentError, match="already graded"):
        _grade(session_factory, item_id, analysts[0], "baseline")
    second = _grade(session_factory, item_id, analysts[1], "baseline")
    assert second.state == ReviewState.DECIDED and second.admitted == 4  # sha256, md5, sha1, pdq
    with session_factory() as s:
        item = s.get(Item, item_id)
        assert item is not None and item.status == ItemStatus.ASSESSED
        match = banks.find_confirmed_match(s, item)
        assert match is not None and match.classification == "baseline"
        case = s.get(Case, case_id)
        assert case is not None and case.status == "assessed" and case.first_assessed_at
        actions = [e.action for e in reversed(audit.recent(s))]
    assert actions[-4:] == ["assessment.grade", "item.claim", "assessment.confirm", "bank.admit"]


def test_three_people_when_configured(
    items: Items, analysts: list[Staff], session_factory: sessionmaker[Session]
) -> None:
    policy = policy_from(confirmations_required=3)
    item_id = items.item(2, items.case("http://example.test/b"))
    _route(session_factory)
    assert _grade(session_factory, item_id, analysts[0], "national", policy).state == "confirming"
    assert _grade(session_factory, item_id, analysts[1], "national", policy).state == "confirming"
    done = _grade(session_factory, item_id, analysts[2], "national", policy)
    assert done.state == ReviewState.DECIDED and done.admitted == 4


def test_not_illegal_needs_one_analyst_and_closes_case(
    items: Items, analysts: list[Staff], session_factory: sessionmaker[Session]
) -> None:
    case_id = items.case("http://example.test/c")
    item_id = items.item(3, case_id)
    _route(session_factory)
    assert _grade(session_factory, item_id, analysts[0], "not_illegal").state == "decided"
    with session_factory() as s:
        case = s.get(Case, case_id)
        assert case is not None and case.status == "closed"
        item = s.get(Item, item_id)
        assert item is not None and banks.find_confirmed_match(s, item) is None


def test_disagreement_goes_to_a_supervisor(
    items: Items, analysts: list[Staff], session_factory: sessionmaker[Session]
) -> None:
    ana, ben, _cat, sue = analysts
    item_id = items.item(4, items.case("http://example.test/d"))
    _route(session_factory)
    _grade(session_factory, item_id, ana, "baseline")
    assert _grade(session_factory, item_id, ben, "not_illegal").state == ReviewState.DISPUTED
    with transaction(session_factory) as s:
        assert [d.item.id for d in service.disputes(s)] == [item_id]
        # Disputed items leave the queue.
        assert queue.list_queue(s, _actor(sue)) == []
        with pytest.raises(service.AssessmentError, match="not waiting"):
            queue.claim(s, item_id, _actor(sue), POLICY)
    with (
        pytest.raises(service.AssessmentError, match="graded this item yourself"),
        transaction(session_factory) as s,
    ):
        service.resolve_dispute(s, item_id, _actor(ana), "baseline", {}, POLICY)
    with transaction(session_factory) as s:
        outcome = service.resolve_dispute(s, item_id, _actor(sue), "national", {}, POLICY)
    assert outcome.state == ReviewState.DECIDED and outcome.admitted == 4
    review = _review(session_factory, item_id)
    assert review.classification == "national"


def test_matching_item_is_assessed_automatically(
    items: Items, analysts: list[Staff], session_factory: sessionmaker[Session]
) -> None:
    ana, ben, cat, _sue = analysts
    first = items.item(5, items.case("http://example.test/e"))
    _route(session_factory)
    _grade(session_factory, first, ana, "baseline")
    _grade(session_factory, first, ben, "baseline")
    # The same bytes are found at another URL: one item, already decided, not queued again.
    again_case = items.case("http://example.test/e-mirror")
    assert items.item(5, again_case) == first
    # A byte-identical copy re-ingested as NEW (e.g. after bank import) matches by hash.
    with transaction(session_factory) as s:
        other = s.get(Item, first)
        assert other is not None
        copy = Item(
            sha256="f" * 64,
            md5=other.md5,
            sha1="0" * 40,
            size=other.size,
            media_type="image/png",
            storage_key=other.storage_key,
        )
        s.add(copy)
        s.flush()
        copy_id = copy.id
    assert _route(session_factory) == (1, 0)
    with transaction(session_factory) as s:
        copied = s.get(Item, copy_id)
        assert copied is not None and copied.status == ItemStatus.AUTO_ASSESSED
        assert queue.list_queue(s, _actor(cat)) == []
        with pytest.raises(service.KnownContentError):
            queue.claim(s, copy_id, _actor(cat), POLICY)
        auto = [e for e in audit.recent(s) if e.action == "assessment.automatic"]
        assert auto and auto[0].target == f"item:{copy_id}"
        review = s.get(ItemReview, copy_id)
        assert review is not None and review.automatic and review.classification == "baseline"


def test_item_matching_after_it_was_queued_is_never_claimed(
    items: Items, analysts: list[Staff], session_factory: sessionmaker[Session]
) -> None:
    """The bank grows while an item waits: claiming it assesses it instead of showing it."""
    ana, _ben, cat, _sue = analysts
    item_id = items.item(6, items.case("http://example.test/f"))
    _route(session_factory)
    with transaction(session_factory) as s:
        item = s.get(Item, item_id)
        assert item is not None
        banks.admit_item_hashes(s, item, scheme="default", classification="national")
    with transaction(session_factory) as s:
        assert queue.list_queue(s, _actor(cat))[0].item_id == item_id  # still listed...
    with transaction(session_factory) as s, pytest.raises(service.KnownContentError):
        queue.claim(s, item_id, _actor(ana), POLICY)
    with session_factory() as s:
        item = s.get(Item, item_id)
        assert item is not None and item.status == ItemStatus.AUTO_ASSESSED
        rows = s.execute(select(ItemReview.state).where(ItemReview.item_id == item_id)).all()
        assert rows == [("decided",)]


def test_grading_needs_a_claim_and_a_valid_class(
    items: Items, analysts: list[Staff], session_factory: sessionmaker[Session]
) -> None:
    ana, ben = analysts[0], analysts[1]
    item_id = items.item(7, items.case("http://example.test/g"))
    _route(session_factory)
    with (
        pytest.raises(service.AssessmentError, match="claim the item"),
        transaction(session_factory) as s,
    ):
        service.assess(s, item_id, _actor(ana), "baseline", {}, POLICY)
    with transaction(session_factory) as s:
        queue.claim(s, item_id, _actor(ana), POLICY)
    with (
        pytest.raises(service.AssessmentError, match="another analyst is working"),
        transaction(session_factory) as s,
    ):
        queue.claim(s, item_id, _actor(ben), POLICY)
    from openhotline.assessment.schemes import SchemeError

    with pytest.raises(SchemeError), transaction(session_factory) as s:
        service.assess(s, item_id, _actor(ana), "cat_a", {}, POLICY)


def test_known_bytes_at_a_new_url_settle_the_case_without_an_analyst(
    items: Items, analysts: list[Staff], session_factory: sessionmaker[Session]
) -> None:
    ana, ben, cat, _sue = analysts
    item_id = items.item(8, items.case("http://example.test/h"))
    _route(session_factory)
    _grade(session_factory, item_id, ana, "baseline")
    _grade(session_factory, item_id, ben, "baseline")
    mirror = items.case("http://mirror.example.test/h")
    assert items.item(8, mirror) == item_id
    with transaction(session_factory) as s:
        assert queue.list_queue(s, _actor(cat)) == []
    with session_factory() as s:
        case = s.get(Case, mirror)
        assert case is not None and case.status == "assessed"


def test_near_duplicate_matches_by_pdq_and_is_never_queued(
    items: Items, analysts: list[Staff], session_factory: sessionmaker[Session]
) -> None:
    """A re-encoded, resized copy has other cryptographic hashes but a close PDQ hash."""
    from openhotline.matching.engine import MatchEngine
    from tests.console_fixtures import near_copy

    ana, ben, cat, _sue = analysts
    engine = MatchEngine(session_factory, None)
    original = items.item(9, items.case("http://example.test/i"))
    _route(session_factory)
    _grade(session_factory, original, ana, "national")
    done = _grade(session_factory, original, ben, "national")
    assert done.admitted == 4  # sha256, md5, sha1 and pdq
    copy = items.item(0, items.case("http://other.example.test/i"), data=near_copy(9))
    with transaction(session_factory) as s:
        item = s.get(Item, copy)
        assert item is not None
        assert banks.find_confirmed_match(s, item) is None  # no exact hash in common
        found = banks.find_confirmed_match(s, item, engine)
        assert found is not None and found.algorithm == "pdq" and 0 < found.distance <= 31
        assert (found.scheme, found.classification) == ("default", "national")
        assert queue.list_queue(s, _actor(cat), engine=engine) == []
    with session_factory() as s:
        item = s.get(Item, copy)
        assert item is not None and item.status == ItemStatus.AUTO_ASSESSED
