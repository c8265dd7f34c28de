"""Victim-identification use cases: series, their items and fields, suggestions, alerts.

Services never commit: the caller owns the transaction. Every change is audited. Notes and
clues are encrypted with the victim-identification cipher (bound to series and field);
only callers holding the clues permission ask for them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from openhotline import db
from openhotline.audit import service as audit
from openhotline.audit.models import AuditAction
from openhotline.errors import ConflictError, DomainError, ErrorKind, InvalidError, NotFoundError
from openhotline.helpline.crypto import CipherError, FieldCipher
from openhotline.media.models import Item
from openhotline.victimid.models import (
    Alert,
    Series,
    SeriesItem,
    SeriesKind,
    SeriesMatch,
    Suggestion,
    SuggestionState,
    VictimStatus,
)

REFERENCE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}$")
SEXES = ("", "female", "male", "unknown")
MAX_TEXT = 20_000


class VictimIdError(DomainError):
    """Every error victim-identification code raises on purpose; raise a kind below."""


class VictimIdInvalidError(VictimIdError, InvalidError):
    """Bad input; the message is safe to show."""

    kind = ErrorKind.INVALID


class VictimIdNotFoundError(VictimIdError, NotFoundError):
    """No such series, item or suggestion."""

    kind = ErrorKind.NOT_FOUND


class VictimIdConflictError(VictimIdError, ConflictError):
    """The request clashes with the current state (a merged series, a duplicate reference)."""

    kind = ErrorKind.CONFLICT


def parse_status(value: str) -> VictimStatus:
    """A victim status from its name (also "identified"/"not identified"/"unknown")."""
    clean = value.strip().lower().replace(" ", "_").replace("-", "_")
    try:
        return VictimStatus(clean)
    except ValueError:
        choices = ", ".join(s.value for s in VictimStatus)
        raise VictimIdInvalidError(f"unknown victim status {value!r}; one of {choices}") from None


def parse_kind(value: str) -> SeriesKind:
    """A series kind from its name."""
    try:
        return SeriesKind(value.strip().lower())
    except ValueError:
        choices = ", ".join(k.value for k in SeriesKind)
        raise VictimIdInvalidError(f"unknown series kind {value!r}; one of {choices}") from None


def check_reference(reference: str) -> str:
    """A series reference: 1-64 letters, digits and . _ : / - ."""
    reference = reference.strip()
    if not REFERENCE_RE.match(reference):
        raise VictimIdInvalidError(
            "a series reference needs 1-64 letters, digits or . _ : / - (no spaces)"
        )
    return reference


def get_series(session: Session, series_id: int) -> Series:
    """The series, or NotFound."""
    series = session.get(Series, series_id)
    if series is None:
        raise VictimIdNotFoundError(f"no series {series_id}")
    return series


def series_by_reference(session: Session, reference: str) -> Series | None:
    """The series with this reference, if any."""
    return session.scalar(select(Series).where(Series.reference == reference))


def _live(series: Series) -> None:
    if series.merged_into_id is not None:
        raise VictimIdConflictError(
            f"series {series.reference} was merged into series {series.merged_into_id}"
        )


def next_reference(session: Session) -> str:
    """A new local reference: S-<year>-<number>."""
    year = db.now(session).year
    count = session.scalar(select(func.count()).select_from(Series)) or 0
    n = int(count) + 1
    while series_by_reference(session, f"S-{year}-{n:04d}") is not None:
        n += 1
    return f"S-{year}-{n:04d}"


def create_series(
    session: Session,
    *,
    actor: str,
    title: str = "",
    kind: SeriesKind = SeriesKind.VICTIM,
    reference: str = "",
    victim_status: VictimStatus = VictimStatus.UNKNOWN,
    origin: str = "local",
    known_bank_id: int | None = None,
) -> Series:
    """Create a series (a reference is made when none is given); audited."""
    reference = check_reference(reference) if reference else next_reference(session)
    if series_by_reference(session, reference) is not None:
        raise VictimIdConflictError(f"a series {reference} exists already")
    if len(title) > 200:
        raise VictimIdInvalidError("a title has at most 200 characters")
    now = db.now(session)
    series = Series(
        reference=reference, kind=kind, title=title.strip(), victim_status=victim_status,
        police_reference="", age_band="", sex="", origin=origin[:200],
        known_bank_id=known_bank_id, created_by=actor[:100], created_at=now, updated_at=now,
    )  # fmt: skip
    session.add(series)
    session.flush()
    audit.record(
        session,
        actor,
        AuditAction.VICTIMID_SERIES_CREATE,
        f"series:{series.id}",
        {"reference": reference, "kind": kind.value, "origin": series.origin},
    )
    return series


@dataclass(frozen=True)
class SeriesFields:
    """The victim-identification fields a person edits (None: leave unchanged)."""

    title: str | None = None
    victim_status: VictimStatus | None = None
    police_reference: str | None = None
    new_material_since: datetime | None = None
    age_band: str | None = None
    sex: str | None = None


def update_fields(
    session: Session, series: Series, fields: SeriesFields, *, actor: str, age_bands: list[str]
) -> dict[str, Any]:
    """Change a series' fields (audited with the names and values of what changed)."""
    _live(series)
    changed: dict[str, Any] = {}
    if fields.age_band is not None and fields.age_band and fields.age_band not in age_bands:
        raise VictimIdInvalidError(
            f"unknown age band {fields.age_band!r}; one of {', '.join(age_bands)}"
        )
    if fields.sex is not None and fields.sex not in SEXES:
        raise VictimIdInvalidError(f"sex is one of {', '.join(s or '(blank)' for s in SEXES)}")
    for name in ("title", "victim_status", "police_reference", "age_band", "sex"):
        value = getattr(fields, name)
        if value is None:
            continue
        if isinstance(value, str) and not isinstance(value, VictimStatus):
            value = value.strip()
            if len(value) > (200 if name == "title" else 100):
                raise VictimIdInvalidError(f"{name.replace('_', ' ')} is too long")
        if getattr(series, name) != value:
            setattr(series, name, value)
            changed[name] = value.value if isinstance(value, VictimStatus) else value
    if fields.new_material_since is not None and fields.new_material_since != (
        series.new_material_since
    ):
        series.new_material_since = fields.new_material_since
        changed["new_material_since"] = fields.new_material_since.isoformat()
    if changed:
        series.updated_at = db.now(session)
        audit.record(
            session, actor, AuditAction.VICTIMID_SERIES_UPDATE, f"series:{series.id}", changed
        )
        session.flush()
    return changed


def _context(series: Series, field: str) -> str:
    return f"series:{series.id}:{field}"


def set_notes(
    session: Session,
    series: Series,
    cipher: FieldCipher,
    *,
    actor: str,
    notes: str | None = None,
    clues: str | None = None,
) -> None:
    """Store notes and clues encrypted (the audit log records that, never the text)."""
    _live(series)
    changed = []
    for field, text in (("notes", notes), ("clues", clues)):
        if text is None:
            continue
        if len(text) > MAX_TEXT:
            raise VictimIdInvalidError(f"{field} have at most {MAX_TEXT} characters")
        blob = cipher.encrypt(text, _context(series, field)) if text.strip() else None
        setattr(series, f"{field}_enc", blob)
        changed.append(field)
    if changed:
        series.updated_at = db.now(session)
        audit.record(
            session,
            actor,
            AuditAction.VICTIMID_SERIES_UPDATE,
            f"series:{series.id}",
            {"encrypted": changed},
        )
        session.flush()


def read_notes(
    session: Session, series: Series, cipher: FieldCipher, *, actor: str
) -> dict[str, str]:
    """Decrypt notes and clues for a person allowed to see them (each reading is audited)."""
    out = {}
    for field in ("notes", "clues"):
        blob = getattr(series, f"{field}_enc")
        try:
            out[field] = cipher.decrypt(blob, _context(series, field)) if blob else ""
        except CipherError:
            out[field] = ""
            out[f"{field}_error"] = "cannot be decrypted with this key"
    audit.record(session, actor, AuditAction.VICTIMID_CLUES_VIEW, f"series:{series.id}", None)
    return out


def add_item(
    session: Session, series: Series, item_id: int, *, actor: str, how: str = "manual"
) -> bool:
    """Put an item into a series (False if it was there already); audited."""
    _live(series)
    if session.get(Item, item_id) is None:
        raise VictimIdNotFoundError(f"no item {item_id}")
    exists = session.scalar(
        select(SeriesItem.id).where(
            SeriesItem.series_id == series.id, SeriesItem.item_id == item_id
        )
    )
    if exists is not None:
        return False
    now = db.now(session)
    session.add(
        SeriesItem(series_id=series.id, item_id=item_id, how=how[:200], added_by=actor[:100],
                   added_at=now)
    )  # fmt: skip
    # An open suggestion of this item is settled by the same act.
    session.execute(
        update(Suggestion)
        .where(
            Suggestion.series_id == series.id,
            Suggestion.item_id == item_id,
            Suggestion.state == SuggestionState.OPEN,
        )
        .values(state=SuggestionState.ACCEPTED, decided_by=actor[:100], decided_at=now)
    )
    series.updated_at = now
    audit.record(
        session,
        actor,
        AuditAction.VICTIMID_ITEM_ADD,
        f"series:{series.id}",
        {"item": item_id, "how": how[:200]},
    )
    session.flush()
    return True


def remove_item(session: Session, series: Series, item_id: int, *, actor: str) -> None:
    """Take an item out of a series; audited."""
    _live(series)
    row = session.scalar(
        select(SeriesItem).where(SeriesItem.series_id == series.id, SeriesItem.item_id == item_id)
    )
    if row is None:
        raise VictimIdNotFoundError(f"item {item_id} is not in series {series.reference}")
    session.delete(row)
    series.updated_at = db.now(session)
    audit.record(
        session, actor, AuditAction.VICTIMID_ITEM_REMOVE, f"series:{series.id}", {"item": item_id}
    )
    session.flush()


def merge_series(session: Session, target: Series, source: Series, *, actor: str) -> int:
    """Move every item, suggestion and alert of `source` into `target`; returns items moved.

    The source stays as a trace (merged_into_id), so its reference still resolves.
    """
    _live(target)
    _live(source)
    if target.id == source.id:
        raise VictimIdInvalidError("a series cannot be merged into itself")
    moved = 0
    rows = session.scalars(select(SeriesItem).where(SeriesItem.series_id == source.id)).all()
    for row in rows:
        moved += int(
            add_item(session, target, row.item_id, actor=actor, how=f"merge:{source.reference}")
        )
        session.delete(row)
    _move_rows(session, Suggestion, source.id, target.id)
    _move_rows(session, SeriesMatch, source.id, target.id)
    session.execute(update(Alert).where(Alert.series_id == source.id).values(series_id=target.id))
    if target.victim_status == VictimStatus.UNKNOWN:
        target.victim_status = source.victim_status
    source.merged_into_id = target.id
    now = db.now(session)
    source.updated_at = target.updated_at = now
    audit.record(
        session,
        actor,
        AuditAction.VICTIMID_SERIES_MERGE,
        f"series:{target.id}",
        {"merged": source.reference, "items": moved},
    )
    session.flush()
    return moved


def _move_rows(
    session: Session, model: type[Suggestion | SeriesMatch], source: int, target: int
) -> None:
    """Re-point a merged series' rows (one per item and series: duplicates go)."""
    taken = set(session.scalars(select(model.item_id).where(model.series_id == target)))
    others: list[Suggestion | SeriesMatch] = list(
        session.scalars(select(model).where(model.series_id == source))
    )
    for other in others:
        if other.item_id in taken:
            session.delete(other)
        else:
            other.series_id = target
    session.flush()


def series_items(session: Session, series_id: int) -> list[tuple[SeriesItem, Item]]:
    """The series' items, in the order they were added."""
    rows = session.execute(
        select(SeriesItem, Item)
        .join(Item, Item.id == SeriesItem.item_id)
        .where(SeriesItem.series_id == series_id)
        .order_by(SeriesItem.id)
    ).all()
    return [(si, item) for si, item in rows]


def member_ids(session: Session, series_id: int) -> set[int]:
    """Item ids of a series."""
    return set(session.scalars(select(SeriesItem.item_id).where(SeriesItem.series_id == series_id)))


@dataclass(frozen=True)
class SeriesRow:
    """A series in the list, with its item count and open suggestions and alerts."""

    series: Series
    items: int
    open_suggestions: int
    open_alerts: int


def list_series(session: Session, *, include_merged: bool = False) -> list[SeriesRow]:
    """Every series, newest first."""
    q = select(Series).order_by(Series.id.desc())
    if not include_merged:
        q = q.where(Series.merged_into_id.is_(None))
    counts: dict[str, dict[int, int]] = {}
    for name, model, cond in (
        ("items", SeriesItem, None),
        ("suggestions", Suggestion, Suggestion.state == SuggestionState.OPEN),
        ("alerts", Alert, Alert.acknowledged_at.is_(None)),
    ):
        stmt = select(model.series_id, func.count()).group_by(model.series_id)
        if cond is not None:
            stmt = stmt.where(cond)
        counts[name] = {int(k): int(v) for k, v in session.execute(stmt).all()}
    return [
        SeriesRow(
            s,
            counts["items"].get(s.id, 0),
            counts["suggestions"].get(s.id, 0),
            counts["alerts"].get(s.id, 0),
        )
        for s in session.scalars(q)
    ]


def suggestions_of(
    session: Session, series_id: int, state: SuggestionState | None = SuggestionState.OPEN
) -> list[tuple[Suggestion, Item]]:
    """Suggestions of a series (open ones by default)."""
    q = (
        select(Suggestion, Item)
        .join(Item, Item.id == Suggestion.item_id)
        .where(Suggestion.series_id == series_id)
        .order_by(Suggestion.id)
    )
    if state is not None:
        q = q.where(Suggestion.state == state)
    return [(s, i) for s, i in session.execute(q).all()]


def record_suggestion(session: Session, series_id: int, item_id: int, signal: str) -> bool:
    """Note an item as possibly related (once per series and item); True when new."""
    exists = session.scalar(
        select(Suggestion.id).where(
            Suggestion.series_id == series_id, Suggestion.item_id == item_id
        )
    )
    if exists is not None:
        return False
    session.add(
        Suggestion(series_id=series_id, item_id=item_id, signal=signal[:200],
                   state=SuggestionState.OPEN, created_at=db.now(session), decided_by="")
    )  # fmt: skip
    session.flush()
    return True


def decide_suggestion(
    session: Session, suggestion_id: int, accept: bool, *, actor: str
) -> Suggestion:
    """A person accepts (the item joins the series) or rejects a suggestion; audited."""
    suggestion = session.get(Suggestion, suggestion_id)
    if suggestion is None:
        raise VictimIdNotFoundError(f"no suggestion {suggestion_id}")
    if suggestion.state != SuggestionState.OPEN:
        raise VictimIdConflictError(f"suggestion {suggestion_id} is {suggestion.state.value}")
    series = get_series(session, suggestion.series_id)
    if accept:
        add_item(
            session, series, suggestion.item_id, actor=actor, how=f"suggestion:{suggestion.signal}"
        )
    else:
        suggestion.state = SuggestionState.REJECTED
        suggestion.decided_by = actor[:100]
        suggestion.decided_at = db.now(session)
        audit.record(
            session,
            actor,
            AuditAction.VICTIMID_SUGGESTION,
            f"series:{series.id}",
            {"item": suggestion.item_id, "rejected": suggestion.signal},
        )
    session.flush()
    return suggestion


def alerts(
    session: Session, *, open_only: bool = True, limit: int = 200
) -> list[tuple[Alert, Series]]:
    """The victim-identification queue: alerts, newest first."""
    q = (
        select(Alert, Series)
        .join(Series, Series.id == Alert.series_id)
        .order_by(Alert.id.desc())
        .limit(limit)
    )
    if open_only:
        q = q.where(Alert.acknowledged_at.is_(None))
    return [(a, s) for a, s in session.execute(q).all()]


def acknowledge_alert(session: Session, alert_id: int, *, actor: str) -> Alert:
    """Mark an alert seen."""
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise VictimIdNotFoundError(f"no alert {alert_id}")
    if alert.acknowledged_at is None:
        alert.acknowledged_at = db.now(session)
        alert.acknowledged_by = actor[:100]
        session.flush()
    return alert


def matches_of_item(session: Session, item_id: int) -> list[tuple[SeriesMatch, Series]]:
    """The series an item matched by hash ("known series X, victim identified")."""
    rows = session.execute(
        select(SeriesMatch, Series)
        .join(Series, Series.id == SeriesMatch.series_id)
        .where(SeriesMatch.item_id == item_id)
        .order_by(SeriesMatch.id)
    ).all()
    return [(m, s) for m, s in rows]


def describe_match(series: Series) -> str:
    """What a match says: "known series X, victim identified"."""
    status = {
        VictimStatus.IDENTIFIED: "victim identified",
        VictimStatus.NOT_IDENTIFIED: "victim not identified",
        VictimStatus.UNKNOWN: "victim status unknown",
    }[series.victim_status]
    return f"known series {series.reference}, {status}"
