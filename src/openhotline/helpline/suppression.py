"""Small-count suppression with secondary suppression for linked count tables.

A table is published with its margins: row totals, column totals and a grand total.
Write it as an (R+1) x (C+1) grid whose last column holds the row totals and last row the
column totals. Every row and every column of that grid satisfies one linear equation
(cells minus total = 0), so an attacker who knows the visible values can solve for hidden
ones. Several tables drawn from the same contacts share their row totals and grand total
(e.g. contacts per month by channel and by age band), which links their equations.

1. Primary suppression: every value with 0 < v < k is hidden (margins included).
2. Shared margins: a row total or grand total hidden in one linked table is hidden in all.
3. Per table, hidden cells form a bipartite graph (grid rows and columns as nodes). A
   hidden value is exactly determined by its table's equations iff its edge is a bridge;
   for each bridge we hide the cheapest non-zero value that closes a cycle through it.
4. Jointly, over all linked tables, we solve the equations exactly (sparse Gaussian
   elimination over the rationals, reduced row echelon form); any hidden value that is a
   unit row of the echelon form is derivable, and we hide one more cell next to it.
Steps 2-4 repeat until nothing changes. Zeros are never hidden (they are known not to be
anyone); every hidden value is at least 1, so each cycle through a hidden cell allows
another non-negative table with the same published values and that cell changed by one.
Cost: hide interior cells first, smallest first; totals only when nothing else works.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

Pos = tuple[int, int]


@dataclass
class CountTable:
    """Interior counts of one table (rows x columns); margins are derived."""

    rows: list[str]
    cols: list[str]
    cells: list[list[int]]
    hidden: set[Pos] = field(default_factory=set)

    @property
    def n_rows(self) -> int:
        """Number of interior rows (R); grid row R holds the column totals."""
        return len(self.rows)

    @property
    def n_cols(self) -> int:
        """Number of interior columns (C); grid column C holds the row totals."""
        return len(self.cols)

    def value(self, pos: Pos) -> int:
        """Return the value at a grid position, margins included."""
        i, j = pos
        r, c = self.n_rows, self.n_cols
        if i < r and j < c:
            return self.cells[i][j]
        if i < r:
            return sum(self.cells[i])
        if j < c:
            return sum(row[j] for row in self.cells)
        return sum(sum(row) for row in self.cells)

    def positions(self) -> list[Pos]:
        """All grid positions, margins included."""
        return [(i, j) for i in range(self.n_rows + 1) for j in range(self.n_cols + 1)]

    def published(self, pos: Pos) -> int | None:
        """The value as published: None when hidden."""
        return None if pos in self.hidden else self.value(pos)

    def equations(self) -> list[list[tuple[Pos, int]]]:
        """Each grid row and column: coefficients of the 'cells minus total = 0' equation."""
        r, c = self.n_rows, self.n_cols
        eqs = [[((i, j), -1 if j == c else 1) for j in range(c + 1)] for i in range(r + 1)]
        eqs += [[((i, j), -1 if i == r else 1) for i in range(r + 1)] for j in range(c + 1)]
        return eqs


def _cost(table: CountTable, pos: Pos) -> tuple[int, int]:
    margin = (pos[0] == table.n_rows) + (pos[1] == table.n_cols)
    return (margin, table.value(pos))


def _bridges(edges: set[Pos]) -> list[Pos]:
    """Return the bridge edges of the bipartite graph rows x cols given by edges."""
    adj: dict[tuple[str, int], list[tuple[tuple[str, int], Pos]]] = {}
    for i, j in edges:
        adj.setdefault(("r", i), []).append((("c", j), (i, j)))
        adj.setdefault(("c", j), []).append((("r", i), (i, j)))
    disc: dict[tuple[str, int], int] = {}
    low: dict[tuple[str, int], int] = {}
    out: list[Pos] = []
    counter = 0
    for root in sorted(adj):
        if root in disc:
            continue
        disc[root] = low[root] = counter
        counter += 1
        stack: list[tuple[tuple[str, int], Pos | None, int]] = [(root, None, 0)]
        while stack:
            node, via, idx = stack[-1]
            if idx < len(adj[node]):
                stack[-1] = (node, via, idx + 1)
                nxt, edge = adj[node][idx]
                if edge == via:
                    continue
                if nxt in disc:
                    low[node] = min(low[node], disc[nxt])
                else:
                    disc[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append((nxt, edge, 0))
            else:
                stack.pop()
                if stack and via is not None:
                    parent = stack[-1][0]
                    low[parent] = min(low[parent], low[node])
                    if low[node] > disc[parent]:
                        out.append(via)
    return sorted(out)


def _component(edges: set[Pos], start: tuple[str, int]) -> set[tuple[str, int]]:
    seen = {start}
    todo = [start]
    while todo:
        kind, n = todo.pop()
        for i, j in edges:
            if kind == "r" and i == n and ("c", j) not in seen:
                seen.add(("c", j))
                todo.append(("c", j))
            elif kind == "c" and j == n and ("r", i) not in seen:
                seen.add(("r", i))
                todo.append(("r", i))
    return seen


def _close_one_bridge(table: CountTable) -> bool:
    """Hide one more value to put a bridge on a cycle; False when there is no bridge."""
    bridges = _bridges(table.hidden)
    if not bridges:
        return False
    a, b = bridges[0]
    rest = table.hidden - {(a, b)}
    side_a = _component(rest, ("r", a))
    side_b = _component(rest, ("c", b))
    free = [p for p in table.positions() if p not in table.hidden and table.value(p) != 0]
    joining = [
        p
        for p in free
        if (("r", p[0]) in side_a and ("c", p[1]) in side_b)
        or (("r", p[0]) in side_b and ("c", p[1]) in side_a)
    ]
    growing = [p for p in free if ("r", p[0]) in side_a or ("c", p[1]) in side_a]
    choice = joining or growing
    if not choice:  # cannot happen while the grand total is non-zero (see module doc)
        raise RuntimeError("no cell left to protect a suppressed value")
    table.hidden.add(min(choice, key=lambda p: _cost(table, p)))
    return True


def _var(t: int, table: CountTable, pos: Pos) -> Hashable:
    i, j = pos
    if j == table.n_cols:  # row totals and the grand total are shared by linked tables
        return ("shared", i)
    return (t, i, j)


def derivable(tables: list[CountTable]) -> list[tuple[int, Pos]]:
    """Hidden values that the published values of all linked tables determine exactly."""
    index: dict[Hashable, int] = {}
    where: dict[int, tuple[int, Pos]] = {}
    for t, table in enumerate(tables):
        for pos in sorted(table.hidden):
            key = _var(t, table, pos)
            if key not in index:
                index[key] = len(index)
                where[index[key]] = (t, pos)
    pivots: dict[int, dict[int, Fraction]] = {}
    for t, table in enumerate(tables):
        for eq in table.equations():
            row: dict[int, Fraction] = {}
            for pos, coef in eq:
                if pos in table.hidden:
                    v = index[_var(t, table, pos)]
                    row[v] = row.get(v, Fraction(0)) + coef
            row = {v: x for v, x in row.items() if x}
            _reduce_into(pivots, row)
    return sorted(where[p] for p, row in pivots.items() if len(row) == 1)


def _reduce_into(pivots: dict[int, dict[int, Fraction]], row: dict[int, Fraction]) -> None:
    """Add one equation to a reduced row echelon form kept as {pivot: row}."""
    for p in [v for v in row if v in pivots]:
        factor = row.get(p)
        if not factor:
            continue
        for v, x in pivots[p].items():
            row[v] = row.get(v, Fraction(0)) - factor * x
        row = {v: x for v, x in row.items() if x}
    row = {v: x for v, x in row.items() if x}
    if not row:
        return
    p = min(row)
    lead = row[p]
    row = {v: x / lead for v, x in row.items()}
    for q, other in pivots.items():
        factor = other.get(p)
        if factor:
            for v, x in row.items():
                other[v] = other.get(v, Fraction(0)) - factor * x
            pivots[q] = {v: x for v, x in other.items() if x}
    pivots[p] = row


def _protect(table: CountTable, pos: Pos) -> None:
    """Hide the cheapest non-zero value in pos's row, else its column, else anywhere."""
    free = [p for p in table.positions() if p not in table.hidden and table.value(p) != 0]
    for pick in (
        [p for p in free if p[0] == pos[0]],
        [p for p in free if p[1] == pos[1]],
        free,
    ):
        if pick:
            table.hidden.add(min(pick, key=lambda p: _cost(table, p)))
            return
    raise RuntimeError("no cell left to protect a suppressed value")


def _sync_shared(tables: list[CountTable]) -> bool:
    rows = {i for tb in tables for (i, j) in tb.hidden if j == tb.n_cols}
    changed = False
    for tb in tables:
        for i in rows:
            if (i, tb.n_cols) not in tb.hidden:
                tb.hidden.add((i, tb.n_cols))
                changed = True
    return changed


def suppress(
    tables: Iterable[CountTable], k: int, forced: Sequence[set[Pos]] | None = None
) -> list[CountTable]:
    """Hide small counts and whatever would reveal them; linked tables share row totals.

    forced: per table, positions to hide besides the small counts (e.g. values that another
    published table hides); zeros among them stay shown.
    """
    group = list(tables)
    if k < 2:
        raise ValueError("k must be at least 2")
    for tb in group[1:]:
        if tb.rows != group[0].rows or any(
            tb.value((i, tb.n_cols)) != group[0].value((i, group[0].n_cols))
            for i in range(tb.n_rows + 1)
        ):
            raise ValueError("linked tables must have the same rows and row totals")
    for t, tb in enumerate(group):
        tb.hidden = {p for p in tb.positions() if 0 < tb.value(p) < k}
        if forced is not None:
            tb.hidden |= {p for p in forced[t] if tb.value(p) != 0}
    while True:
        changed = _sync_shared(group)
        for tb in group:
            while _close_one_bridge(tb):
                changed = True
        if changed:
            continue
        exposed = derivable(group)
        if not exposed:
            return group
        t, pos = exposed[0]
        _protect(group[t], pos)
