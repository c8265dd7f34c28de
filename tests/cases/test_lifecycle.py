"""The case transition table: every illegal move is refused, every legal one is recorded."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from openhotline.cases.lifecycle import (
    AWAITING_ACTION,
    AWAITING_ASSESSMENT,
    AWAITING_CAPTURE,
    CAN_BE_CLAIMED,
    GUARDS,
    LISTABLE,
    OPEN_FOR_NOTICE,
    REOPENABLE,
    TABLE,
    Guard,
    IllegalTransitionError,
)
from openhotline.cases.models import Case, CaseEvent, CaseEventKind, CaseStatus
from openhotline.cases.service import move, record_event
from openhotline.clock import FixedClock
from openhotline.db import make_sessionmaker
from openhotline.errors import HTTP_STATUS, ConflictError
from tests.case_support import path, walk_to

S = CaseStatus
MILESTONE_FIELDS = ("first_assessed_at", "actioned_at", "removed_at", "closed_at")
T0 = datetime(2026, 12, 1, 1, 30, tzinfo=UTC)
LEGAL = sorted(TABLE)
ILLEGAL = [p for p in itertools.product(CaseStatus, CaseStatus) if p not in TABLE]


def _case(s: Session, n: int, status: CaseStatus) -> Case:
    case = Case(canonical_url=f"http://example.test/{n}", url_hash=f"{n:064d}", host="example.test")
    s.add(case)
    s.flush()
    walk_to(s, case, status)
    return case


def _events(s: Session, case: Case) -> int:
    return s.execute(
        select(func.count()).select_from(CaseEvent).where(CaseEvent.case_id == case.id)
    ).scalar_one()


def test_table_is_what_the_services_did() -> None:
    assert set(TABLE) == {
        (S.NEW, S.TRIAGE),
        (S.NEW, S.ASSESSING),
        (S.NEW, S.ASSESSED),
        (S.NEW, S.CLOSED),
        (S.TRIAGE, S.ASSESSING),
        (S.TRIAGE, S.ASSESSED),
        (S.TRIAGE, S.CLOSED),
        (S.ASSESSING, S.ASSESSED),
        (S.ASSESSING, S.CLOSED),
        (S.ASSESSED, S.ACTIONED),
        (S.ASSESSED, S.REMOVED),
        (S.ASSESSED, S.CLOSED),
        (S.ACTIONED, S.REMOVED),
        (S.ACTIONED, S.CLOSED),
        (S.REMOVED, S.CLOSED),
        (S.CLOSED, S.NEW),
        (S.REMOVED, S.NEW),
    }
    assert len(ILLEGAL) == 49 - len(TABLE)
    assert all(a != b for a, b in TABLE), "a move to the same status is never a move"


def test_every_status_is_reachable_from_new_and_can_end_closed() -> None:
    for status in CaseStatus:
        if status is not S.NEW:
            assert path(S.NEW, status)[-1] == status
        if status is not S.CLOSED:
            assert path(status, S.CLOSED)[-1] == S.CLOSED


@pytest.mark.parametrize(
    ("guard", "target"),
    [
        (AWAITING_CAPTURE, S.TRIAGE),
        (CAN_BE_CLAIMED, S.ASSESSING),
        (AWAITING_ASSESSMENT, S.ASSESSED),
        (AWAITING_ASSESSMENT, S.CLOSED),
        (AWAITING_ACTION, S.ACTIONED),
        (OPEN_FOR_NOTICE, S.REMOVED),
        (LISTABLE, S.CLOSED),
        (REOPENABLE, S.NEW),
    ],
)
def test_each_guard_admits_only_statuses_that_can_make_its_move(
    guard: Guard, target: CaseStatus
) -> None:
    assert guard.statuses
    for status in guard.statuses:
        assert (status, target) in TABLE, f"{guard.name}: {status} cannot move to {target}"
    assert guard in GUARDS


def test_guard_accepts_a_case_or_a_status() -> None:
    case = Case(canonical_url="http://example.test/", url_hash="0" * 64, host="example.test")
    case.status = S.ACTIONED
    assert LISTABLE(case) and LISTABLE(S.ASSESSED) and not LISTABLE(S.REMOVED)
    assert LISTABLE.values == [S.ASSESSED, S.ACTIONED]


def test_illegal_transition_is_a_conflict() -> None:
    exc = IllegalTransitionError(7, S.CLOSED, S.ACTIONED)
    assert isinstance(exc, ConflictError)
    assert HTTP_STATUS[exc.kind] == 409
    assert exc.message == "case 7 cannot move from closed to actioned"
    assert exc.detail == ["from closed a case may move to: new"]


def test_every_illegal_move_raises_and_changes_nothing(engine: Engine) -> None:
    factory = make_sessionmaker(engine, FixedClock(T0))
    with factory.begin() as s:
        for n, (source, target) in enumerate(ILLEGAL):
            case = _case(s, n, source)
            before = (case.status, case.updated_at, *(getattr(case, f) for f in MILESTONE_FIELDS))
            events = _events(s, case)
            with pytest.raises(IllegalTransitionError) as raised:
                move(s, case, target, actor="test", reason="should fail")
            assert (raised.value.source, raised.value.target) == (source, target)
            s.flush()
            after = (case.status, case.updated_at, *(getattr(case, f) for f in MILESTONE_FIELDS))
            assert after == before, (source, target)
            assert _events(s, case) == events, (source, target)
    with factory() as s:  # and nothing of it reached the database
        assert (
            s.execute(
                select(func.count()).select_from(CaseEvent).where(CaseEvent.detail == "should fail")
            ).scalar_one()
            == 0
        )


def test_every_legal_move_writes_an_event_and_stamps_milestones(engine: Engine) -> None:
    clock = FixedClock(T0)
    factory = make_sessionmaker(engine, clock)
    with factory.begin() as s:
        for n, (source, target) in enumerate(LEGAL):
            case = _case(s, n, source)
            stamped = {f: getattr(case, f) for f in MILESTONE_FIELDS}
            clock.advance(timedelta(minutes=1))
            event = move(s, case, target, actor="analyst:test", reason=f"{source}->{target}")
            assert case.status == target and case.updated_at == clock.now()
            assert (event.kind, event.from_status, event.to_status) == (
                CaseEventKind.STATUS,
                source,
                target,
            )
            assert (event.actor, event.detail, event.at) == (
                "analyst:test",
                f"{source}->{target}",
                clock.now(),
            )
            expected = dict(stamped)
            for field, reached in (
                ("first_assessed_at", target in (S.ASSESSED, S.CLOSED)),
                ("actioned_at", target == S.ACTIONED),
                ("removed_at", target == S.REMOVED),
                ("closed_at", target == S.CLOSED),
            ):
                if reached and expected[field] is None:
                    expected[field] = clock.now()
            assert {f: getattr(case, f) for f in MILESTONE_FIELDS} == expected, (source, target)
    with factory() as s:  # enum columns read back as members
        row = s.execute(select(CaseEvent).order_by(CaseEvent.id.desc()).limit(1)).scalar_one()
        assert isinstance(row.kind, CaseEventKind) and isinstance(row.to_status, CaseStatus)


def test_milestones_keep_the_first_time(engine: Engine) -> None:
    clock = FixedClock(T0)
    factory = make_sessionmaker(engine, clock)
    with factory.begin() as s:
        case = _case(s, 1, S.CLOSED)
        closed = case.closed_at
        assert closed == T0
        clock.advance(timedelta(days=1))
        walk_to(s, case, S.NEW)
        walk_to(s, case, S.CLOSED)
        assert case.closed_at == closed and case.updated_at == T0 + timedelta(days=1)


def test_record_event_refuses_status_events(engine: Engine) -> None:
    factory = make_sessionmaker(engine, FixedClock(T0))
    with factory.begin() as s:
        case = _case(s, 1, S.NEW)
        with pytest.raises(ValueError, match="move"):
            record_event(s, case.id, CaseEventKind.STATUS)
        event = record_event(s, case.id, CaseEventKind.TRACED, actor="trace", detail="NL")
        assert event.at == T0 and event.from_status is None
