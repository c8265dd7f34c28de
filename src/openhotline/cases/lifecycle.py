"""The case transition table, the named guards callers test against, and its diagram.

This module is the one statement of how a case may move; `service.move()` enforces it and
`docs/case-lifecycle.md` is rendered from it (`openhotline case diagram`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from openhotline.cases.models import Case, CaseStatus
from openhotline.errors import ConflictError

S = CaseStatus


@dataclass(frozen=True)
class Transition:
    """A named move from any of `sources` to `target`, with why it happens (for the docs)."""

    name: str
    sources: frozenset[CaseStatus]
    target: CaseStatus
    why: str


def _t(name: str, sources: Iterable[CaseStatus], target: CaseStatus, why: str) -> Transition:
    return Transition(name, frozenset(sources), target, why)


# Derived from what the services did before the table existed (capture, assessment, queue,
# takedown, blocklist appeals, intake); an edge missing here is a bug in the caller.
TRANSITIONS: tuple[Transition, ...] = (
    _t("to triage", [S.NEW], S.TRIAGE, "captured (or capture failed), items wait for analysts"),
    _t("claim", [S.NEW, S.TRIAGE], S.ASSESSING, "an analyst claims one of its items"),
    _t(
        "assess",
        [S.NEW, S.TRIAGE, S.ASSESSING],
        S.ASSESSED,
        "one item confirmed illegal (four eyes or a bank match), or a URL-level decision",
    ),
    _t(
        "close unfounded",
        [S.NEW, S.TRIAGE, S.ASSESSING],
        S.CLOSED,
        "nothing illegal found, or a URL-level decision closes it",
    ),
    _t("action", [S.ASSESSED], S.ACTIONED, "notice sent or case referred"),
    _t("confirm removed", [S.ASSESSED, S.ACTIONED], S.REMOVED, "a re-check finds it gone"),
    _t("withdraw", [S.ASSESSED, S.ACTIONED], S.CLOSED, "an appeal against the listing is upheld"),
    _t("close removed", [S.REMOVED], S.CLOSED, "delisted; nothing more to do"),
    _t("reopen", [S.CLOSED, S.REMOVED], S.NEW, "a new report arrives for it: capture again"),
)

# (from, to) -> the transition that allows it; every other pair is illegal.
TABLE: dict[tuple[CaseStatus, CaseStatus], Transition] = {
    (source, t.target): t for t in TRANSITIONS for source in sorted(t.sources)
}


class IllegalTransitionError(ConflictError):
    """A move the transition table does not allow; the case is left unchanged."""

    def __init__(self, case_id: int | None, source: CaseStatus, target: CaseStatus) -> None:
        options = ", ".join(to for to in CaseStatus if (source, to) in TABLE) or "nothing"
        super().__init__(
            f"case {case_id} cannot move from {source} to {target}",
            [f"from {source} a case may move to: {options}"],
        )
        self.case_id = case_id
        self.source = source
        self.target = target


def allowed(source: CaseStatus, target: CaseStatus) -> bool:
    """Whether the table allows a move from source to target."""
    return (source, target) in TABLE


def transition_for(case: Case, target: CaseStatus) -> Transition:
    """Return the transition taking case to target, or raise IllegalTransitionError."""
    source = CaseStatus(case.status)
    found = TABLE.get((source, target))
    if found is None:
        raise IllegalTransitionError(case.id, source, target)
    return found


@dataclass(frozen=True)
class Guard:
    """A named set of statuses a caller checks before acting (also usable in SQL `in_`)."""

    name: str
    statuses: frozenset[CaseStatus]

    def __call__(self, case_or_status: Case | CaseStatus) -> bool:
        """Whether the case (or status) satisfies the guard."""
        status = case_or_status.status if isinstance(case_or_status, Case) else case_or_status
        return status in self.statuses

    @property
    def values(self) -> list[CaseStatus]:
        """The statuses in lifecycle order, for SQL `IN` clauses."""
        return [s for s in CaseStatus if s in self.statuses]


def _guard(name: str, *statuses: CaseStatus) -> Guard:
    return Guard(name, frozenset(statuses))


AWAITING_CAPTURE = _guard("awaiting capture", S.NEW)
CAN_BE_CLAIMED = _guard("can be claimed", S.NEW, S.TRIAGE)
AWAITING_ASSESSMENT = _guard("awaiting assessment", S.NEW, S.TRIAGE, S.ASSESSING)
AWAITING_ACTION = _guard("awaiting action", S.ASSESSED)
OPEN_FOR_NOTICE = _guard("open for notice", S.ASSESSED, S.ACTIONED)
LISTABLE = _guard("listable", S.ASSESSED, S.ACTIONED)
REOPENABLE = _guard("reopenable", S.CLOSED, S.REMOVED)

GUARDS: tuple[Guard, ...] = (
    AWAITING_CAPTURE,
    CAN_BE_CLAIMED,
    AWAITING_ASSESSMENT,
    AWAITING_ACTION,
    OPEN_FOR_NOTICE,
    LISTABLE,
    REOPENABLE,
)

_ORDER = list(CaseStatus)


def render_mermaid() -> str:
    """Render the transition table as a Mermaid stateDiagram-v2 (one edge per pair)."""
    lines = ["stateDiagram-v2", f"    [*] --> {S.NEW}: report received"]
    for source, target in sorted(TABLE, key=lambda p: (_ORDER.index(p[0]), _ORDER.index(p[1]))):
        lines.append(f"    {source} --> {target}: {TABLE[(source, target)].name}")
    return "\n".join(lines) + "\n"


def render_document() -> str:
    """Render docs/case-lifecycle.md: the diagram, the named transitions and the guards."""
    out = [
        "# Case lifecycle",
        "",
        "<!-- Generated by `openhotline case diagram > docs/case-lifecycle.md`;"
        " do not edit by hand. -->",
        "",
        "A case changes status only through `openhotline.cases.service.move()`, which allows",
        "exactly the moves below (`cases/lifecycle.py`), raises `IllegalTransitionError` for",
        "any other, records a `status` case event and stamps the case's milestones",
        "(`first_assessed_at`, `actioned_at`, `removed_at`, `closed_at`).",
        "",
        "```mermaid",
        render_mermaid().rstrip("\n"),
        "```",
        "",
        "## Transitions",
        "",
        "| transition | from | to | when |",
        "|---|---|---|---|",
    ]
    for t in TRANSITIONS:
        sources = ", ".join(s for s in _ORDER if s in t.sources)
        out.append(f"| {t.name} | {sources} | {t.target} | {t.why} |")
    out += [
        "",
        "## Guards",
        "",
        "Callers test these named guards instead of their own lists of statuses.",
        "",
        "| guard | statuses |",
        "|---|---|",
    ]
    for g in GUARDS:
        out.append(f"| {g.name} | {', '.join(s for s in _ORDER if s in g.statuses)} |")
    return "\n".join(out) + "\n"
