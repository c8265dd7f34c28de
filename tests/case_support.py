"""Test helper: walk a case to a status along the shortest legal path of the lifecycle."""

from __future__ import annotations

from collections import deque

from sqlalchemy.orm import Session

from openhotline.cases.lifecycle import TABLE
from openhotline.cases.models import Case, CaseStatus
from openhotline.cases.service import move


def path(source: CaseStatus, target: CaseStatus) -> list[CaseStatus]:
    """The statuses after source on a shortest legal path to target (empty when equal)."""
    previous: dict[CaseStatus, CaseStatus] = {}
    todo = deque([source])
    while todo:
        here = todo.popleft()
        if here == target:
            steps = []
            while here != source:
                steps.append(here)
                here = previous[here]
            return steps[::-1]
        for fr, to in TABLE:
            if fr == here and to not in previous and to != source:
                previous[to] = here
                todo.append(to)
    raise AssertionError(f"no legal path from {source} to {target}")


def walk_to(s: Session, case: Case, status: CaseStatus, *, actor: str = "test") -> None:
    """Move case to status through every intermediate legal move (tests set up states)."""
    for step in path(case.status, status):
        move(s, case, step, actor=actor)
