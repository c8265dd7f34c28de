"""No module outside openhotline.cases changes Case.status: the transition table is the only way."""

from __future__ import annotations

import ast
from pathlib import Path

import openhotline

SRC = Path(openhotline.__file__).parent
CASES = SRC / "cases"


def _mentions_case(node: ast.AST | None) -> bool:
    """Whether an expression names the Case model (select(Case), session.get(Case, ...))."""
    if node is None:
        return False
    return any(
        (isinstance(n, ast.Name) and n.id == "Case")
        or (isinstance(n, ast.Constant) and n.value == "Case")
        for n in ast.walk(node)
    )


def case_status_writes(source: str, filename: str = "<src>") -> list[str]:
    """Return 'file:line' of every write to a Case's status found in source."""
    tree = ast.parse(source, filename)
    found: list[str] = []
    # Names bound to a Case anywhere in the module: annotated parameters, assignments and
    # loop targets whose value mentions Case, and the conventional name `case` (only in
    # modules that name the Case model: the helpline's own cases are another table).
    case_names = {"case"} if _mentions_case(tree) else set()
    for node in ast.walk(tree):
        if isinstance(node, ast.arg) and _mentions_case(node.annotation):
            case_names.add(node.arg)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            value = node.value
            ann = node.annotation if isinstance(node, ast.AnnAssign) else None
            if _mentions_case(value) or _mentions_case(ann):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for t in targets:
                    case_names.update(n.id for n in ast.walk(t) if isinstance(n, ast.Name))
        elif isinstance(node, (ast.For, ast.comprehension)) and _mentions_case(node.iter):
            case_names.update(n.id for n in ast.walk(node.target) if isinstance(n, ast.Name))
    for node in ast.walk(tree):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        for t in targets:
            for sub in ast.walk(t):
                if (
                    isinstance(sub, ast.Attribute)
                    and sub.attr == "status"
                    and isinstance(sub.value, ast.Name)
                    and sub.value.id in case_names
                ):
                    found.append(f"{filename}:{node.lineno}")
        if isinstance(node, ast.Call):
            func = node.func
            # setattr(case, "status", ...)
            if (
                isinstance(func, ast.Name)
                and func.id == "setattr"
                and len(node.args) >= 2
                and isinstance(node.args[1], ast.Constant)
                and node.args[1].value == "status"
            ):
                found.append(f"{filename}:{node.lineno}")
            # update(Case).values(status=...) or Case(status=...)
            keywords = {k.arg for k in node.keywords}
            if "status" in keywords and (
                (isinstance(func, ast.Attribute) and func.attr == "values" and _mentions_case(func))
                or (isinstance(func, ast.Name) and func.id == "Case")
            ):
                found.append(f"{filename}:{node.lineno}")
    return found


def test_no_module_outside_cases_assigns_case_status() -> None:
    offenders: list[str] = []
    files = [p for p in SRC.rglob("*.py") if CASES not in p.parents]
    assert len(files) > 100
    for path in files:
        offenders += case_status_writes(path.read_text(), str(path.relative_to(SRC)))
    assert offenders == []


def test_move_is_the_one_writer_inside_cases() -> None:
    writes = case_status_writes((CASES / "service.py").read_text(), "cases/service.py")
    assert len(writes) == 1


def test_the_scan_finds_each_kind_of_write() -> None:
    sample = """
def a(session, case_id):
    c = session.get(Case, case_id)
    c.status = "closed"
def b(session):
    for row in session.execute(select(Case)).scalars():
        row.status = CaseStatus.NEW
def c(x: Case):
    x.status = CaseStatus.NEW
def d(case):
    setattr(case, "status", "new")
def e(session):
    session.execute(update(Case).where(Case.id == 1).values(status="closed"))
def f():
    return Case(status="closed")
def fine(notice, session):
    notice.status = "done"
    session.execute(update(Notice).values(status="done"))
"""
    assert sorted(int(w.split(":")[1]) for w in case_status_writes(sample)) == [4, 7, 9, 11, 13, 15]


def test_another_domain_s_own_case_is_not_a_hotline_case() -> None:
    sample = """
from openhotline.helpline.case_models import HelplineCase
def reopen(case: HelplineCase):
    case.status = "open"
"""
    assert case_status_writes(sample) == []
