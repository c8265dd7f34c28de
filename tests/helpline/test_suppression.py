"""Small-count suppression against differencing attacks on totals (hypothesis properties).

The checks here are independent of the implementation's own bridge and echelon code:
- a subtraction attacker solves every published row/column equation with one unknown,
  repeatedly, across linked tables (what someone with a spreadsheet does);
- a dense exact-rational rank test shows no linear combination of published values
  yields a hidden one;
- for single tables, an explicit second non-negative table is built that publishes the
  same values but differs in the hidden cell (so the cell truly cannot be known).
"""

from __future__ import annotations

from collections import deque
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openhotline.helpline.suppression import CountTable, Pos, derivable, suppress

K = 5
VALUES = st.sampled_from([0, 0, 0, 1, 1, 2, 3, 4, 5, 6, 8, 13, 40])


def _copy(t: CountTable) -> CountTable:
    return CountTable(list(t.rows), list(t.cols), [list(r) for r in t.cells])


def _var(t: int, tb: CountTable, pos: Pos) -> Any:
    return ("shared", pos[0]) if pos[1] == tb.n_cols else (t, *pos)


def subtraction_attack(tables: list[CountTable]) -> dict[Any, int]:
    """Recover hidden values by solving equations with one unknown, until nothing changes."""
    known: dict[Any, int] = {}
    for t, tb in enumerate(tables):
        for pos in tb.positions():
            if pos not in tb.hidden:
                known[_var(t, tb, pos)] = tb.value(pos)
    recovered: dict[Any, int] = {}
    progress = True
    while progress:
        progress = False
        for t, tb in enumerate(tables):
            for eq in tb.equations():
                unknown = [(p, c) for p, c in eq if _var(t, tb, p) not in known]
                if len(unknown) != 1:
                    continue
                pos, coef = unknown[0]
                rest = sum(c * known[_var(t, tb, p)] for p, c in eq if (p, c) != (pos, coef))
                value = -rest // coef
                known[_var(t, tb, pos)] = recovered[_var(t, tb, pos)] = value
                progress = True
    return recovered


def _rank(rows: list[list[Fraction]]) -> int:
    m = [list(r) for r in rows]
    rank = 0
    cols = len(m[0]) if m else 0
    for c in range(cols):
        pivot = next((i for i in range(rank, len(m)) if m[i][c] != 0), None)
        if pivot is None:
            continue
        m[rank], m[pivot] = m[pivot], m[rank]
        for i in range(len(m)):
            if i != rank and m[i][c] != 0:
                f = m[i][c] / m[rank][c]
                m[i] = [a - f * b for a, b in zip(m[i], m[rank], strict=True)]
        rank += 1
    return rank


def dense_determined(tables: list[CountTable]) -> set[Any]:
    """Hidden values in the row space of the published equations (exact rationals, dense)."""
    names = sorted({_var(t, tb, p) for t, tb in enumerate(tables) for p in tb.hidden}, key=str)
    if not names:
        return set()
    col = {n: i for i, n in enumerate(names)}
    rows: list[list[Fraction]] = []
    for t, tb in enumerate(tables):
        for eq in tb.equations():
            row = [Fraction(0)] * len(names)
            for p, c in eq:
                if p in tb.hidden:
                    row[col[_var(t, tb, p)]] += c
            if any(row):
                rows.append(row)
    base = _rank(rows) if rows else 0
    out = set()
    for n in names:
        unit = [Fraction(int(i == col[n])) for i in range(len(names))]
        if _rank([*rows, unit]) == base:
            out.add(n)
    return out


PRIME = (1 << 61) - 1


def modp_determined(tables: list[CountTable]) -> set[Any]:
    """Like dense_determined for big tables: one reduced echelon form modulo a 61-bit prime.

    (A wrong answer needs the prime to divide a minor of a 0/+-1 matrix: negligible.)
    """
    names = sorted({_var(t, tb, p) for t, tb in enumerate(tables) for p in tb.hidden}, key=str)
    col = {n: i for i, n in enumerate(names)}
    m: list[list[int]] = []
    for t, tb in enumerate(tables):
        for eq in tb.equations():
            row = [0] * len(names)
            for p, c in eq:
                if p in tb.hidden:
                    row[col[_var(t, tb, p)]] = (row[col[_var(t, tb, p)]] + c) % PRIME
            if any(row):
                m.append(row)
    rank = 0
    for c in range(len(names)):
        pivot = next((i for i in range(rank, len(m)) if m[i][c]), None)
        if pivot is None:
            continue
        m[rank], m[pivot] = m[pivot], m[rank]
        inv = pow(m[rank][c], PRIME - 2, PRIME)
        m[rank] = [x * inv % PRIME for x in m[rank]]
        for i in range(len(m)):
            if i != rank and m[i][c]:
                f = m[i][c]
                m[i] = [(a - f * b) % PRIME for a, b in zip(m[i], m[rank], strict=True)]
        rank += 1
    return {
        names[next(j for j, x in enumerate(r) if x)]
        for r in m[:rank]
        if sum(1 for x in r if x) == 1
    }


def alternative(tb: CountTable, target: Pos) -> CountTable | None:
    """Another non-negative table with the same published values and target changed by 1."""
    edges = tb.hidden - {target}
    start, goal = ("c", target[1]), ("r", target[0])
    prev: dict[tuple[str, int], tuple[tuple[str, int], Pos] | None] = {start: None}
    todo = deque([start])
    while todo:
        node = todo.popleft()
        for i, j in edges:
            nxt = ("r", i) if node == ("c", j) else ("c", j) if node == ("r", i) else None
            if nxt is not None and nxt not in prev:
                prev[nxt] = (node, (i, j))
                todo.append(nxt)
    if goal not in prev:
        return None
    path = [target]
    node = goal
    while prev[node] is not None:
        back = prev[node]
        assert back is not None
        node, edge = back
        path.append(edge)
    grid = {p: tb.value(p) for p in tb.positions()}
    for n, p in enumerate(path):
        # Alternate signs along the cycle; margins carry the minus sign of their equation.
        sign = 1 if n % 2 == 0 else -1
        if (p[0] == tb.n_rows) != (p[1] == tb.n_cols):
            sign = -sign
        grid[p] += sign
    if any(v < 0 for v in grid.values()):
        return None
    alt = CountTable(
        tb.rows, tb.cols, [[grid[(i, j)] for j in range(tb.n_cols)] for i in range(tb.n_rows)]
    )
    alt.hidden = set(tb.hidden)
    return alt


@st.composite
def tables(draw: st.DrawFn, max_rows: int = 5, max_cols: int = 5) -> CountTable:
    r = draw(st.integers(1, max_rows))
    c = draw(st.integers(1, max_cols))
    cells = [[draw(VALUES) for _ in range(c)] for _ in range(r)]
    return CountTable([f"m{i}" for i in range(r)], [f"v{j}" for j in range(c)], cells)


@st.composite
def linked(draw: st.DrawFn) -> list[CountTable]:
    first = draw(tables())
    group = [first]
    for n in range(draw(st.integers(1, 2))):
        c = draw(st.integers(1, 4))
        cells = []
        for row in first.cells:
            total, parts = sum(row), []
            for _ in range(c - 1):
                part = draw(st.integers(0, total))
                parts.append(part)
                total -= part
            cells.append([*parts, total])
        group.append(CountTable(first.rows, [f"t{n}v{j}" for j in range(c)], cells))
    return group


def _check_published(tb: CountTable) -> None:
    for pos in tb.positions():
        v = tb.value(pos)
        if 0 < v < K:
            assert pos in tb.hidden, f"small count {v} at {pos} published"
        if v == 0:
            assert pos not in tb.hidden


SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(tables())
def test_no_hidden_cell_of_one_table_can_be_recovered(tb: CountTable) -> None:
    suppress([tb], K)
    _check_published(tb)
    assert subtraction_attack([tb]) == {}
    assert dense_determined([tb]) == set()
    for pos in tb.hidden:
        alt = alternative(tb, pos)
        assert alt is not None, f"no second table differs at {pos}"
        assert alt.value(pos) != tb.value(pos)
        assert all(alt.published(p) == tb.published(p) for p in tb.positions())


@SETTINGS
@given(linked())
def test_linked_tables_leak_nothing_together(group: list[CountTable]) -> None:
    suppress(group, K)
    for tb in group:
        _check_published(tb)
    assert subtraction_attack(group) == {}
    assert modp_determined(group) == set()
    assert derivable(group) == []


def test_primary_suppression_alone_is_broken_by_subtraction() -> None:
    """The attacker is real: with only the small cell hidden it recovers it from the total."""
    tb = CountTable(["m1", "m2"], ["a", "b"], [[1, 10], [10, 10]])
    tb.hidden = {(0, 0)}
    assert subtraction_attack([tb]) == {(0, 0, 0): 1}
    assert dense_determined([tb]) == {(0, 0, 0)}
    suppress([tb], K)
    assert len(tb.hidden) >= 4 and subtraction_attack([tb]) == {}


def test_linked_tables_suppressed_apart_leak_and_together_do_not() -> None:
    """Two tables each safe alone leak a small month total together (shared row totals)."""
    a = CountTable(["m1", "m2", "m3"], ["x", "y"], [[0, 6], [2, 2], [9, 1]])
    b = CountTable(["m1", "m2", "m3"], ["p", "q"], [[3, 3], [1, 3], [1, 9]])
    apart = [_copy(a), _copy(b)]
    for tb in apart:
        suppress([tb], K)
        assert subtraction_attack([tb]) == {}
    assert subtraction_attack(apart) == {("shared", 1): 4}  # the month with 4 contacts
    together = suppress([_copy(a), _copy(b)], K)
    assert subtraction_attack(together) == {} and dense_determined(together) == set()


def test_zero_total_and_all_zero_tables() -> None:
    tb = CountTable(["m1"], ["a", "b"], [[0, 0]])
    suppress([tb], K)
    assert tb.hidden == set()
    small = CountTable(["m1"], ["a"], [[3]])
    suppress([small], K)
    assert small.hidden == {(0, 0), (0, 1), (1, 0), (1, 1)}


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="k must"):
        suppress([CountTable(["m"], ["a"], [[1]])], 1)
    a = CountTable(["m1"], ["a"], [[7]])
    b = CountTable(["m1"], ["a"], [[8]])
    with pytest.raises(ValueError, match="same rows"):
        suppress([a, b], K)
