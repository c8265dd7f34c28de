"""Known-series lists: hashes labelled with series references, from police or ICSE.

A list goes into a hash bank (matching domain) whose entries are sourced "series:<ref>",
so the capture flow matches it like any bank and the bank's policy decides what a match
does (auto-assess under a mapping, hint, or record only). Each reference becomes a series
(origin "list:<bank>") carrying the victim status the list gives, so the new-material scan
can say "known series X, victim identified".

CSV: a header with series (or reference), victim_status (or status), hash_type (or type),
hash (or value, hash_value) and optionally classification. JSON: {"series": [{"reference",
"victim_status", "classification"?, "hashes": [{"type", "value"}]}]}.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from openhotline.audit import service as audit
from openhotline.audit.models import AuditAction
from openhotline.matching import service as matching
from openhotline.matching.formats import Row, check_not_degenerate, normalise_hash
from openhotline.matching.models import HashBank, HashType
from openhotline.matching.policy import BankSource
from openhotline.victimid import service
from openhotline.victimid.models import VictimStatus

MAX_LIST_BYTES = 64 * 1024 * 1024  # the app's body limit on the list route
ALIASES = {
    "series": ("series", "reference", "series_reference"),
    "status": ("victim_status", "status"),
    "type": ("hash_type", "type"),
    "value": ("hash", "value", "hash_value"),
    "classification": ("classification",),
}


@dataclass
class ListEntry:
    """One hash of a known series."""

    line: int
    reference: str
    status: VictimStatus
    hash_type: HashType
    value: str
    classification: str = ""


@dataclass
class KnownListResult:
    """What an import did."""

    bank: str
    series_created: int = 0
    series_updated: int = 0
    added: int = 0
    duplicates: int = 0
    bad: list[str] = field(default_factory=list)


def _hash_type(value: str) -> HashType:
    try:
        return HashType(value.strip().lower())
    except ValueError:
        choices = ", ".join(t.value for t in HashType)
        raise ValueError(f"unknown hash type {value!r} (one of {choices})") from None


def _entry(line: int, ref: str, status: str, htype: str, value: str, cls: str) -> ListEntry:
    reference = service.check_reference(ref)
    ht = _hash_type(htype)
    clean = check_not_degenerate(ht, normalise_hash(ht, value))
    return ListEntry(line, reference, service.parse_status(status or "unknown"), ht, clean, cls)


def parse_list(data: bytes, fmt: str = "") -> tuple[list[ListEntry], list[str]]:
    """Entries and "line N: reason" for rows skipped; the format from fmt or the content."""
    if len(data) > MAX_LIST_BYTES:
        raise service.VictimIdInvalidError("the list is larger than 64 MiB")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise service.VictimIdInvalidError("the list is not UTF-8 text") from None
    fmt = fmt.lower() or ("json" if text.lstrip().startswith(("{", "[")) else "csv")
    if fmt == "json":
        return _parse_json(text)
    if fmt == "csv":
        return _parse_csv(text)
    raise service.VictimIdInvalidError("a known-series list is CSV or JSON")


def _parse_csv(text: str) -> tuple[list[ListEntry], list[str]]:
    reader = csv.reader(io.StringIO(text))
    header = [h.strip().lower() for h in next(reader, [])]
    cols: dict[str, int] = {}
    for key, names in ALIASES.items():
        for name in names:
            if name in header:
                cols[key] = header.index(name)
                break
    missing = [k for k in ("series", "type", "value") if k not in cols]
    if missing:
        raise service.VictimIdInvalidError(
            "the CSV header needs columns series, hash_type and hash (victim_status and "
            f"classification optional); missing: {', '.join(missing)}"
        )
    out: list[ListEntry] = []
    bad: list[str] = []
    for n, row in enumerate(reader, start=2):
        if not any(c.strip() for c in row):
            continue

        def col(key: str, row: list[str] = row) -> str:
            i = cols.get(key)
            return row[i].strip() if i is not None and i < len(row) else ""

        try:
            out.append(
                _entry(n, col("series"), col("status"), col("type"), col("value"),
                       col("classification"))
            )  # fmt: skip
        except (ValueError, service.VictimIdError) as exc:
            bad.append(f"line {n}: {exc}")
    return out, bad


def _parse_json(text: str) -> tuple[list[ListEntry], list[str]]:
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise service.VictimIdInvalidError(f"not valid JSON: {exc.msg}") from None
    series = data.get("series") if isinstance(data, dict) else data
    if not isinstance(series, list):
        raise service.VictimIdInvalidError('JSON lists hold {"series": [...]}')
    out: list[ListEntry] = []
    bad: list[str] = []
    n = 0
    for s in series:
        if not isinstance(s, dict) or not isinstance(s.get("hashes"), list):
            n += 1
            bad.append(f"series {n}: needs a reference and a list of hashes")
            continue
        for h in s["hashes"]:
            n += 1
            try:
                if not isinstance(h, dict):
                    raise ValueError("a hash is {type, value}")
                out.append(
                    _entry(n, str(s.get("reference", "")), str(s.get("victim_status", "")),
                           str(h.get("type", "")), str(h.get("value", "")),
                           str(h.get("classification", s.get("classification", ""))))
                )  # fmt: skip
            except (ValueError, service.VictimIdError) as exc:
                bad.append(f"entry {n}: {exc}")
    return out, bad


def import_list(
    session: Session,
    bank_name: str,
    entries: list[ListEntry],
    *,
    actor: str,
    source: str = "",
    classification: str = "",
) -> KnownListResult:
    """Put a parsed list into its bank and make (or update) one series per reference."""
    try:
        bank = matching.get_bank(session, bank_name)
    except matching.BankNotFoundError:
        bank = matching.create_bank(
            session, bank_name, f"Known-series list {source}".strip(), source=BankSource.IMPORTED
        )
    result = KnownListResult(bank.name)
    statuses: dict[str, VictimStatus] = {}
    for e in entries:
        statuses.setdefault(e.reference, e.status)
    for reference, status in statuses.items():
        series = service.series_by_reference(session, reference)
        if series is None:
            service.create_series(
                session, actor=actor, reference=reference, victim_status=status,
                origin=f"list:{bank.name}", known_bank_id=bank.id,
            )  # fmt: skip
            result.series_created += 1
        else:
            if series.known_bank_id not in (None, bank.id):
                raise service.VictimIdConflictError(
                    f"series {reference} already comes from another list or hotline"
                )
            series.known_bank_id = bank.id
            if series.victim_status != status:
                service.update_fields(
                    session, series, service.SeriesFields(victim_status=status), actor=actor,
                    age_bands=[],
                )  # fmt: skip
            result.series_updated += 1
    rows = [
        Row(e.line, e.hash_type, e.value, f"series:{e.reference}",
            e.classification or classification, actor)
        for e in entries
    ]  # fmt: skip
    imported = matching.import_rows(session, bank, rows, added_by=actor)
    result.added, result.duplicates = imported.added, imported.duplicates
    audit.record(
        session,
        actor,
        AuditAction.VICTIMID_KNOWN_IMPORT,
        f"bank:{bank.name}",
        {"series": len(statuses), "added": result.added, "source": source[:200]},
    )
    return result


def bank_of(session: Session, bank_id: int | None) -> HashBank | None:
    """The bank holding a known series' hashes."""
    return session.get(HashBank, bank_id) if bank_id is not None else None
