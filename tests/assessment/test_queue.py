"""Queue order, filters and claims."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from openhotline.assessment import queue, service
from openhotline.assessment.models import Claim
from openhotline.assessment.policy import policy_from
from openhotline.db import transaction, utcnow
from openhotline.media.models import Item
from tests.console_fixtures import Items, Staff

POLICY = policy_from()


def _ids(factory: sessionmaker[Session], staff: Staff, **filters: object) -> list[int]:
    with transaction(factory) as s:
        actor = service.Actor(staff.id, staff.username)
        entries = queue.list_queue(s, actor, queue.QueueFilters(**filters))  # type: ignore[arg-type]
        return [e.item_id for e in entries]


def _age(factory: sessionmaker[Session], item_id: int, hours: int) -> None:
    with transaction(factory) as s:
        s.execute(
            update(Item)
            .where(Item.id == item_id)
            .values(created_at=utcnow() - timedelta(hours=hours))
        )


def test_order_urgent_then_new_then_rest_oldest_first(
    items: Items, make_user: Callable[..., Staff], session_factory: sessionmaker[Session]
) -> None:
    ana, ben = make_user("ana"), make_user("ben")
    old = items.item(1, items.case("http://example.test/old"))
    newer = items.item(2, items.case("http://example.test/newer"))
    confirming = items.item(3, items.case("http://example.test/oldest"))
    urgent = items.item(4, items.case("http://example.test/urgent", child_in_danger=True))
    _age(session_factory, old, 5)
    _age(session_factory, newer, 1)
    _age(session_factory, confirming, 9)
    _age(session_factory, urgent, 0)
    assert _ids(session_factory, ben) == [urgent, confirming, old, newer]
    with transaction(session_factory) as s:
        actor = service.Actor(ana.id, "user:ana")
        queue.claim(s, confirming, actor, POLICY)
        service.assess(s, confirming, actor, "baseline", {}, POLICY)
    # Waiting for confirmation comes after new content, and never to its first grader.
    assert _ids(session_factory, ben) == [urgent, old, newer, confirming]
    assert _ids(session_factory, ana) == [urgent, old, newer]


def test_filters(
    items: Items, make_user: Callable[..., Staff], session_factory: sessionmaker[Session]
) -> None:
    ben = make_user("ben")
    crawled = items.item(1, items.case("http://example.test/1"))
    partner = items.item(2, items.case("http://example.test/2"), source="partner:abc")
    _age(session_factory, crawled, 30)
    assert _ids(session_factory, ben, source="partner:") == [partner]
    assert _ids(session_factory, ben, min_age_hours=24) == [crawled]
    assert _ids(session_factory, ben, max_age_hours=24) == [partner]
    assert _ids(session_factory, ben, state="confirming") == []
    assert _ids(session_factory, ben, source="%") == []


def test_claims_hide_items_from_others_until_they_expire(
    items: Items, make_user: Callable[..., Staff], session_factory: sessionmaker[Session]
) -> None:
    ana, ben = make_user("ana"), make_user("ben")
    item_id = items.item(1, items.case("http://example.test/1"))
    with transaction(session_factory) as s:
        queue.claim(s, item_id, service.Actor(ana.id, "user:ana"), POLICY)
    assert _ids(session_factory, ben) == []
    with transaction(session_factory) as s:
        entries = queue.list_queue(s, service.Actor(ana.id, "user:ana"))
        assert [(e.item_id, e.claimed_by_me) for e in entries] == [(item_id, True)]
        s.execute(update(Claim).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert _ids(session_factory, ben) == [item_id]
    with transaction(session_factory) as s:
        queue.claim(s, item_id, service.Actor(ben.id, "user:ben"), POLICY)
        assert queue.claim_holder(s, item_id) == "ben"
        queue.release(s, item_id, service.Actor(ben.id, "user:ben"))
        assert queue.claim_holder(s, item_id) is None


def test_concurrent_claims_one_winner(
    items: Items, make_user: Callable[..., Staff], session_factory: sessionmaker[Session]
) -> None:
    """Analysts claiming the same item at the same moment: exactly one gets it."""
    import threading

    users = [make_user(f"a{i}") for i in range(4)]
    item_id = items.item(1, items.case("http://example.test/1"))
    with transaction(session_factory) as s:
        service.route_new_items(s)
    barrier = threading.Barrier(len(users))
    results: list[str] = []

    def _claim(staff: Staff) -> None:
        barrier.wait()
        try:
            with transaction(session_factory) as s:
                queue.claim(s, item_id, service.Actor(staff.id, staff.username), POLICY)
            results.append("won")
        except service.AssessmentError:
            results.append("refused")

    threads = [threading.Thread(target=_claim, args=(u,)) for u in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(results) == ["refused", "refused", "refused", "won"]
