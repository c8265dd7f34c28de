"""New material: match items that arrived since the last scan against the series.

Two ways an item is of a series: its hashes are in a known-series bank (a list from police or
ICSE, or a package from another hotline: the matching engine, exact and PDQ within each
bank's radius), or its PDQ is within `radius` of a member of an own series. Either way the
match is recorded (it says "known series X, victim identified"); for an own series the item
also becomes a suggestion, never a member. When the victim is not identified, an alert goes
to the victim-identification queue and, where a police partner is configured, a signed
series package waits for it on the police channel.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from openhotline import db
from openhotline.audit import service as audit
from openhotline.audit.models import AuditAction
from openhotline.matching.engine import MatchEngine
from openhotline.matching.index import PDQIndex, hex_to_words
from openhotline.matching.matcher import QueryHash, match
from openhotline.matching.models import HashBank, HashType
from openhotline.media.models import Item
from openhotline.media.store import MediaStore
from openhotline.partners.models import OrgKind, PartnerOrg
from openhotline.signing.service import SigningKey
from openhotline.victimid import package, service
from openhotline.victimid.models import (
    Alert,
    PolicePackage,
    ScanState,
    Series,
    SeriesItem,
    SeriesMatch,
    VictimStatus,
)

STATE_ID = 1
BATCH = 500


@dataclass(frozen=True)
class PoliceChannel:
    """Where alerts' packages go: the police partner's name, and how to sign them."""

    partner: str
    key: SigningKey
    hotline: str
    store: MediaStore | None = None


@dataclass
class ScanResult:
    """What one scan found."""

    items: int = 0
    matches: int = 0
    alerts: list[int] = field(default_factory=list)
    packages: list[str] = field(default_factory=list)


def _state(session: Session) -> ScanState:
    db.insert_ignore(session, ScanState, [{"id": STATE_ID, "last_item_id": 0}])
    # Locked (PostgreSQL) so that two workers' ticks take turns instead of both scanning the
    # same items; SQLite's single writer does the same on the insert above.
    return session.execute(
        select(ScanState).where(ScanState.id == STATE_ID).with_for_update()
    ).scalar_one()


def _known_banks(session: Session) -> dict[str, int]:
    """Names of the banks that hold known series (bank name -> id)."""
    rows = session.execute(
        select(HashBank.name, HashBank.id)
        .join(Series, Series.known_bank_id == HashBank.id)
        .where(HashBank.enabled.is_(True))
        .distinct()
    ).all()
    return {str(name): int(bank_id) for name, bank_id in rows}


class _Members:
    """PDQ hashes of every own series' members, with the series of each."""

    def __init__(self, session: Session) -> None:
        rows = session.execute(
            select(SeriesItem.series_id, Item.id, Item.pdq)
            .join(Item, Item.id == SeriesItem.item_id)
            .join(Series, Series.id == SeriesItem.series_id)
            .where(Series.merged_into_id.is_(None), Item.pdq.is_not(None), Item.weak.is_(False))
            .order_by(SeriesItem.id)
        ).all()
        self.series_of: list[tuple[int, int]] = [(int(s), int(i)) for s, i, _p in rows]
        self.members: set[tuple[int, int]] = set()
        for series_id, item_id in session.execute(
            select(SeriesItem.series_id, SeriesItem.item_id)
        ).all():
            self.members.add((int(series_id), int(item_id)))
        self.index = (
            PDQIndex.build(hex_to_words([str(p) for _s, _i, p in rows]),
                           np.arange(len(rows), dtype=np.int64))
            if rows else None
        )  # fmt: skip

    def near(self, pdq: str, radius: int) -> dict[int, tuple[int, int]]:
        """series id -> (distance, member item id) of the closest member within radius."""
        if self.index is None:
            return {}
        out: dict[int, tuple[int, int]] = {}
        for pos, dist in self.index.search(hex_to_words([pdq])[0], radius):
            series_id, item_id = self.series_of[int(pos)]
            if series_id not in out or dist < out[series_id][0]:
                out[series_id] = (int(dist), item_id)
        return out


def scan(
    session: Session,
    engine: MatchEngine | None,
    *,
    radius: int = 31,
    police: PoliceChannel | None = None,
    limit: int = BATCH,
) -> ScanResult:
    """Match the items added since the last scan; record matches, suggestions and alerts."""
    state = _state(session)
    items = session.scalars(
        select(Item).where(Item.id > state.last_item_id).order_by(Item.id).limit(limit)
    ).all()
    result = ScanResult(items=len(items))
    if not items:
        return result
    banks = _known_banks(session)
    members = _Members(session)
    for item in items:
        found: dict[int, str] = {}
        if banks and engine is not None:
            queries = [
                QueryHash("sha256", HashType.SHA256, item.sha256),
                QueryHash("md5", HashType.MD5, item.md5),
                QueryHash("sha1", HashType.SHA1, item.sha1),
            ]
            if item.pdq and not item.weak:
                queries.append(QueryHash("pdq", HashType.PDQ, item.pdq, item.pdq_quality))
            for bank_name, ms in match(session, engine, queries, banks_only=set(banks)).items():
                for m in ms:
                    ref = m.source.removeprefix("series:") if m.source.startswith("series:") else ""
                    series = service.series_by_reference(session, ref) if ref else None
                    if series is None or series.known_bank_id != banks[bank_name]:
                        continue
                    how = f"{m.hash_type} distance {m.distance}" if m.distance else m.hash_type
                    found.setdefault(series.id, f"{how} in list {bank_name}")
        if item.pdq and not item.weak:
            for series_id, (dist, member) in members.near(item.pdq, radius).items():
                if (series_id, item.id) not in members.members:
                    found.setdefault(series_id, f"PDQ distance {dist} to item {member}")
        for series_id, via in sorted(found.items()):
            _record(session, item, series_id, via, police, result)
    state.last_item_id = items[-1].id
    session.flush()
    return result


def _record(
    session: Session,
    item: Item,
    series_id: int,
    via: str,
    police: PoliceChannel | None,
    result: ScanResult,
) -> None:
    exists = session.scalar(
        select(SeriesMatch.id).where(
            SeriesMatch.item_id == item.id, SeriesMatch.series_id == series_id
        )
    )
    if exists is not None:
        return
    now = db.now(session)
    session.add(SeriesMatch(item_id=item.id, series_id=series_id, via=via[:200], created_at=now))
    session.flush()
    result.matches += 1
    series = service.get_series(session, series_id)
    if series.known_bank_id is None or service.member_ids(session, series_id):
        service.record_suggestion(session, series_id, item.id, f"new material: {via}")
    if series.victim_status != VictimStatus.IDENTIFIED:
        result.alerts.append(raise_alert(session, series, item.id, via, police, result))


def raise_alert(
    session: Session,
    series: Series,
    item_id: int | None,
    via: str,
    police: PoliceChannel | None,
    result: ScanResult | None = None,
) -> int:
    """An alert for the VID queue; a package for the police partner when one is configured."""
    now = db.now(session)
    if series.new_material_since is None:
        series.new_material_since = now
    alert = Alert(series_id=series.id, item_id=item_id, reason=f"new material: {via}"[:200],
                  created_at=now, acknowledged_by="")  # fmt: skip
    session.add(alert)
    session.flush()
    sent_to = ""
    if police is not None and police.partner:
        org = session.scalar(
            select(PartnerOrg).where(
                PartnerOrg.name == police.partner,
                PartnerOrg.kind == OrgKind.POLICE,
                PartnerOrg.active.is_(True),
            )
        )
        if org is not None:
            built = package.export_series(
                session, series, police.key, actor="system:victimid", hotline=police.hotline,
                store=police.store, reason=f"alert {alert.id}: {via}",
                new_item_ids=(item_id,) if item_id is not None else (),
            )  # fmt: skip
            row = PolicePackage(export_id=built.export_id, series_id=series.id,
                                destination=org.name, reason=f"alert {alert.id}",
                                data=built.data, created_at=now)  # fmt: skip
            session.add(row)
            session.flush()
            alert.package_id = row.id
            sent_to = org.name
            if result is not None:
                result.packages.append(built.export_id)
    audit.record(
        session,
        "system:victimid",
        AuditAction.VICTIMID_ALERT,
        f"series:{series.id}",
        {"item": item_id, "via": via[:200], "police": sent_to},
    )
    return alert.id


def packages_for(session: Session, partner: str) -> list[PolicePackage]:
    """Packages waiting for (or fetched by) a police partner, newest first."""
    return list(
        session.scalars(
            select(PolicePackage)
            .where(PolicePackage.destination == partner)
            .order_by(PolicePackage.id.desc())
            .limit(500)
        )
    )


def fetch_package(session: Session, partner: str, export_id: str, *, actor: str) -> bytes:
    """One package for its police partner (marked fetched; audited)."""
    row = session.scalar(
        select(PolicePackage).where(
            PolicePackage.export_id == export_id, PolicePackage.destination == partner
        )
    )
    if row is None:
        raise service.VictimIdNotFoundError(f"no package {export_id} for {partner}")
    if row.fetched_at is None:
        row.fetched_at = db.now(session)
    audit.record(
        session,
        actor,
        AuditAction.VICTIMID_PACKAGE_FETCHED,
        f"series:{row.series_id}",
        {"export_id": export_id},
    )
    return row.data


def alert_on_join(
    session: Session, series: Series, item_id: int, police: PoliceChannel | None
) -> int | None:
    """An item a person put into a series is new material when it arrived after the series
    was made: alert (once per series and item) unless the victim is identified."""
    if series.victim_status == VictimStatus.IDENTIFIED:
        return None
    item = session.get(Item, item_id)
    if item is None or item.created_at <= series.created_at:
        return None
    seen = session.scalar(
        select(Alert.id).where(Alert.series_id == series.id, Alert.item_id == item_id)
    )
    if seen is not None:
        return None
    return raise_alert(session, series, item_id, "joined the series", police)
