"""The annual export in Child Helpline International's (CHI) data framework shape.

Our taxonomy's codes are mapped onto CHI's lists by a data file (config/helpline/chi.toml,
editable): contact kinds (counselling or not), channels, age groups, genders and main
reasons for contact. Every code of our taxonomy maps to exactly one CHI code per list, so
each CHI list adds up to the same total as ours.

Suppression, with differencing protection:
1. A CHI figure is hidden when it is a small count (0 < n < k), or when any of our figures
   it adds up is hidden in our own published trend tables of that year (otherwise
   CHI figure minus our shown figures would give back a hidden one).
2. Then the CHI lists are suppressed together (they share the total of contacts) by the
   helpline's suppression (helpline/suppression.py), with the figures of step 1 forced
   hidden: each hidden figure gets a complementary one, so no hidden figure can be worked
   out from the totals. Reasons count mentions (a contact may have several) and are
   suppressed on their own, like our category table.
Every figure shown is thus a sum of figures our trend tables already show: the CHI export
tells nothing that the published trend tables do not.
"""

from __future__ import annotations

import csv
import io
import tomllib
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from openhotline import db
from openhotline.errors import InvalidError
from openhotline.helpline.models import ContactCategory, HelplineContact
from openhotline.helpline.suppression import CountTable, Pos, suppress
from openhotline.helpline.taxonomy import UNKNOWN, Taxonomy
from openhotline.helpline.trends import build_year, ended_months

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "config" / "helpline" / "chi.toml"
FORMAT = "openhotline.helpline.chi/1"
NOT_RECORDED = "Not recorded"
# CHI list → (our dimension, its contact column or None for category mentions, taxonomy list)
LISTS: dict[str, tuple[str, Any, str]] = {
    "contact_kinds": ("contact_type", HelplineContact.contact_type, "contact_types"),
    "channels": ("channel", HelplineContact.channel, "channels"),
    "age_groups": ("age_band", HelplineContact.age_band, "age_bands"),
    "genders": ("gender", HelplineContact.gender, "genders"),
    "reasons": ("category", None, "categories"),
}
CONTACT_LISTS = ("contact_kinds", "channels", "age_groups", "genders")


class ChiMappingError(InvalidError):
    """The CHI mapping file is malformed or does not cover the taxonomy."""


@dataclass(frozen=True)
class ChiList:
    """One CHI list: its codes in order, their labels, and our codes behind each."""

    name: str
    codes: list[str]
    labels: dict[str, str]
    sources: dict[str, list[str]]  # CHI code → our codes (UNKNOWN → [UNKNOWN])


@dataclass(frozen=True)
class ChiMapping:
    """The whole mapping file."""

    framework: str
    source: str
    lists: dict[str, ChiList]


def parse_mapping(text: str, taxonomy: Taxonomy) -> ChiMapping:
    """Parse and check mapping TOML text against the taxonomy."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ChiMappingError(f"CHI mapping is not valid TOML: {exc}") from exc
    return _check_mapping(data, taxonomy)


def _check_mapping(data: dict[str, Any], taxonomy: Taxonomy) -> ChiMapping:
    lists: dict[str, ChiList] = {}
    for name, (_dim, _col, tx_list) in LISTS.items():
        entries = data.get(name)
        if not isinstance(entries, list) or not entries:
            raise ChiMappingError(f"CHI mapping needs a non-empty [[{name}]] list")
        ours = taxonomy.labels(tx_list)
        taken: dict[str, str] = {}
        codes: list[str] = []
        labels: dict[str, str] = {}
        sources: dict[str, list[str]] = {}
        for entry in entries:
            code, label, src = entry.get("code"), entry.get("label"), entry.get("from")
            if not isinstance(code, str) or not code or not isinstance(label, str):
                raise ChiMappingError(f"{name}: every entry needs a code and a label")
            if code in labels or code == UNKNOWN:
                raise ChiMappingError(f"{name}: code {code!r} is duplicated or reserved")
            if not isinstance(src, list) or not all(isinstance(s, str) for s in src):
                raise ChiMappingError(f"{name}.{code}: 'from' must be a list of our codes")
            for s in src:
                if s not in ours:
                    raise ChiMappingError(f"{name}.{code}: {s!r} is not in our {tx_list}")
                if s in taken:
                    raise ChiMappingError(f"{name}: {s!r} maps to both {taken[s]!r} and {code!r}")
                taken[s] = code
            codes.append(code)
            labels[code] = label
            sources[code] = list(src)
        unmapped = [c for c in ours if c not in taken]
        if unmapped:
            raise ChiMappingError(f"{name}: our codes {', '.join(unmapped)} map to no CHI code")
        codes.append(UNKNOWN)
        labels[UNKNOWN] = NOT_RECORDED
        sources[UNKNOWN] = [UNKNOWN]
        lists[name] = ChiList(name, codes, labels, sources)
    return ChiMapping(
        framework=str(data.get("framework", "")), source=str(data.get("source", "")), lists=lists
    )


@lru_cache(maxsize=4)
def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def load_mapping(taxonomy: Taxonomy, path: Path | None = None) -> ChiMapping:
    """Load (the file once) the CHI mapping, or the packaged default, checked against taxonomy."""
    return parse_mapping(_read(path or DEFAULT_PATH), taxonomy)


def _direct_counts(session: Session, months: list[str]) -> dict[str, dict[str, int]]:
    """Our codes' counts over the months, per our dimension (None → UNKNOWN)."""
    in_year = HelplineContact.period.in_(months)
    out: dict[str, dict[str, int]] = {}
    for dim, column, _tx in LISTS.values():
        if column is None:
            rows = session.execute(
                select(ContactCategory.category, func.count())
                .select_from(HelplineContact)
                .outerjoin(ContactCategory, ContactCategory.contact_id == HelplineContact.id)
                .where(in_year)
                .group_by(ContactCategory.category)
            ).all()
        else:
            rows = session.execute(
                select(column, func.count()).where(in_year).group_by(column)
            ).all()
        counts: dict[str, int] = {}
        for code, n in rows:
            key = code or UNKNOWN
            counts[key] = counts.get(key, 0) + int(n)
        out[dim] = counts
    return out


@dataclass(frozen=True)
class ChiExport:
    """The suppressed CHI figures of a year: None marks a hidden figure."""

    year: int
    k: int
    months: list[str]
    framework: str
    source: str
    contacts_total: int | None
    mentions_total: int | None
    figures: dict[str, dict[str, int | None]]  # CHI list → code → figure
    labels: dict[str, dict[str, str]]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "format": FORMAT,
            "framework": self.framework,
            "source": self.source,
            "year": self.year,
            "months": self.months,
            "suppression": {
                "k": self.k,
                "null": "fewer than k, hidden in our trend tables, or hidden so that a small "
                "count cannot be worked out from the totals",
            },
            "contacts_total": self.contacts_total,
            **{
                f"contacts_by_{name.removesuffix('s')}": self.figures[name]
                for name in CONTACT_LISTS
            },
            "reasons_for_contact": self.figures["reasons"],
            "reason_mentions_total": self.mentions_total,
            "labels": self.labels,
        }

    def as_csv(self) -> str:
        """CSV with a header: list,code,label,count ('*' = suppressed)."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["list", "code", "label", "count"])

        def show(v: int | None) -> str:
            return "*" if v is None else str(v)

        writer.writerow(["contacts", "total", "All contacts", show(self.contacts_total)])
        for name, figures in self.figures.items():
            for code, value in figures.items():
                writer.writerow([name, code, self.labels[name][code], show(value)])
        writer.writerow(["reasons", "total", "All reason mentions", show(self.mentions_total)])
        return out.getvalue()


def _table(year: int, lst: ChiList, ours: dict[str, int]) -> CountTable:
    cells = [[sum(ours.get(s, 0) for s in lst.sources[code]) for code in lst.codes]]
    return CountTable([str(year)], list(lst.codes), cells)


def _forced(table: CountTable, lst: ChiList, shown: dict[str, int | None], total: bool) -> set[Pos]:
    """Cells (and their column totals) made of any figure our trend tables hide."""
    out: set[Pos] = set()
    for j, code in enumerate(lst.codes):
        if any(shown.get(s) is None for s in lst.sources[code]):
            out |= {(0, j), (1, j)}
    if total:
        out |= {(0, table.n_cols), (1, table.n_cols)}
    return out


def chi_export(
    session: Session,
    year: int,
    taxonomy: Taxonomy,
    k: int,
    *,
    mapping: ChiMapping | None = None,
    now: datetime | None = None,
) -> ChiExport:
    """The suppressed CHI figures of a year's ended months (see the module docstring)."""
    mapping = mapping or load_mapping(taxonomy)
    when = now or db.now(session)
    months = ended_months(year, when)
    if not months:
        raise InvalidError(f"{year} has no ended month yet")
    published = build_year(session, year, taxonomy, k, when)
    ours = _direct_counts(session, months)
    shown = {by: dict(zip(t.columns, t.column_totals, strict=True)) for by, t in published.items()}
    contact_total_hidden = published["contact_type"].total is None
    mention_total_hidden = published["category"].total is None

    tables = {name: _table(year, mapping.lists[name], ours[LISTS[name][0]]) for name in LISTS}
    contact_group = [tables[n] for n in CONTACT_LISTS]
    suppress(
        contact_group,
        k,
        forced=[
            _forced(tables[n], mapping.lists[n], shown[LISTS[n][0]], contact_total_hidden)
            for n in CONTACT_LISTS
        ],
    )
    reasons = tables["reasons"]
    suppress(
        [reasons],
        k,
        forced=[
            _forced(reasons, mapping.lists["reasons"], shown["category"], mention_total_hidden)
        ],
    )
    figures = {
        name: {code: tb.published((0, j)) for j, code in enumerate(mapping.lists[name].codes)}
        for name, tb in tables.items()
    }
    any_contacts = tables["contact_kinds"]
    return ChiExport(
        year=year,
        k=k,
        months=months,
        framework=mapping.framework,
        source=mapping.source,
        contacts_total=any_contacts.published((0, any_contacts.n_cols)),
        mentions_total=reasons.published((0, reasons.n_cols)),
        figures=figures,
        labels={name: dict(lst.labels) for name, lst in mapping.lists.items()},
    )
