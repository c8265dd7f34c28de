"""Police channel use cases: the queue, acknowledge, clear, hold, auto-release.

A police referral (takedown routing writes it) is received by the police partner whose
channel names its destination. Police see it in their queue (API or console), fetch its
signed package, acknowledge it, then clear it (the notice to the host may go) or hold it
(notices wait, the case goes under legal hold so no retention job deletes its evidence).
A channel can release held notices by itself after N hours without a decision. Every
step is audited and written on the case's timeline. Services never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from openhotline import db
from openhotline.audit import service as audit
from openhotline.audit.models import AuditAction
from openhotline.cases.models import Case, CaseEventKind
from openhotline.cases.service import record_event
from openhotline.errors import ConflictError, DomainError, InvalidError, NotFoundError
from openhotline.partners.models import OrgKind, PartnerOrg
from openhotline.police.models import Delivery, PoliceChannel
from openhotline.takedown.models import (
    Notice,
    NoticeStatus,
    Referral,
    ReferralKind,
    ReferralStatus,
)
from openhotline.takedown.service import clear_for_notice

POLICE_KINDS = (ReferralKind.POLICE, ReferralKind.INTERNATIONAL_POLICE)
MAX_HOURS = 24 * 365


class Decision(StrEnum):
    """What police decided on a referral ("" while undecided)."""

    NONE = ""
    CLEARED = "cleared"
    HELD = "held"
    AUTO_RELEASED = "auto_released"


class PoliceError(DomainError):
    """Every error of the police channel; the message is safe to show."""


class PoliceNotFoundError(PoliceError, NotFoundError):
    """No such channel or referral (or not this police partner's)."""


class PoliceInvalidError(PoliceError, InvalidError):
    """Bad channel settings or a bad decision."""


class PoliceConflictError(PoliceError, ConflictError):
    """The referral was already decided another way."""


def add_channel(
    session: Session,
    org_name: str,
    destination: str,
    *,
    ack_hours: int = 24,
    decide_hours: int = 72,
    auto_release_hours: int | None = None,
    delivery: str = Delivery.PACKAGE,
    actor: str,
) -> PoliceChannel:
    """Make a police partner the receiver of one referral destination (or update it)."""
    if delivery not in tuple(Delivery):
        raise PoliceInvalidError(
            f"delivery {delivery!r} is not one of {', '.join(d.value for d in Delivery)}"
        )
    org = session.scalar(select(PartnerOrg).where(PartnerOrg.name == org_name))
    if org is None:
        raise PoliceNotFoundError(f"no partner organisation named {org_name!r}")
    if org.kind != OrgKind.POLICE:
        raise PoliceInvalidError(f"{org_name!r} is a {org.kind.value} partner, not police")
    destination = destination.strip()
    if not destination or len(destination) > 200:
        raise PoliceInvalidError("the destination needs 1 to 200 characters")
    for name, hours in (("ack_hours", ack_hours), ("decide_hours", decide_hours)):
        if not 1 <= hours <= MAX_HOURS:
            raise PoliceInvalidError(f"{name} must be 1 to {MAX_HOURS}")
    if auto_release_hours is not None and not 1 <= auto_release_hours <= MAX_HOURS:
        raise PoliceInvalidError(f"auto_release_hours must be 1 to {MAX_HOURS}, or never")
    taken = session.scalar(
        select(PoliceChannel).where(
            PoliceChannel.destination == destination, PoliceChannel.org_id != org.id
        )
    )
    if taken is not None:
        raise PoliceConflictError(f"another police partner already receives {destination!r}")
    channel = session.scalar(select(PoliceChannel).where(PoliceChannel.org_id == org.id))
    if channel is None:
        channel = PoliceChannel(org_id=org.id, created_at=db.now(session))
        session.add(channel)
    channel.destination = destination
    channel.ack_hours = ack_hours
    channel.decide_hours = decide_hours
    channel.auto_release_hours = auto_release_hours
    channel.delivery = Delivery(delivery)
    session.flush()
    audit.record(
        session,
        actor,
        AuditAction.POLICE_CHANNEL,
        f"partner:{org.id}",
        {
            "destination": destination,
            "ack_hours": ack_hours,
            "decide_hours": decide_hours,
            "auto_release_hours": auto_release_hours,
        },
    )
    return channel


def channel_of(session: Session, org_id: int | None) -> PoliceChannel:
    """The channel of a police partner (NotFound for any other caller)."""
    channel = (
        session.scalar(select(PoliceChannel).where(PoliceChannel.org_id == org_id))
        if org_id is not None
        else None
    )
    if channel is None:
        raise PoliceNotFoundError("this partner has no police channel")
    return channel


def channels(session: Session) -> list[tuple[PoliceChannel, str]]:
    """Every channel with its organisation's name."""
    rows = session.execute(
        select(PoliceChannel, PartnerOrg.name)
        .join(PartnerOrg, PartnerOrg.id == PoliceChannel.org_id)
        .order_by(PartnerOrg.name)
    ).all()
    return [(c, n) for c, n in rows]


@dataclass(frozen=True)
class QueueEntry:
    """One referral as police see it, with its SLA state."""

    referral: Referral
    case: Case
    channel: PoliceChannel
    ack_due: datetime
    decide_due: datetime
    release_at: datetime | None
    ack_overdue: bool
    decide_overdue: bool

    @property
    def state(self) -> str:
        """waiting, acknowledged, or the decision."""
        if self.referral.decision:
            return self.referral.decision
        return "acknowledged" if self.referral.acknowledged_at else "waiting"


def _entry(referral: Referral, case: Case, channel: PoliceChannel, now: datetime) -> QueueEntry:
    created = referral.created_at
    ack_due = created + timedelta(hours=channel.ack_hours)
    decide_due = created + timedelta(hours=channel.decide_hours)
    release = (
        created + timedelta(hours=channel.auto_release_hours)
        if channel.auto_release_hours is not None
        else None
    )
    undecided = not referral.decision
    return QueueEntry(
        referral,
        case,
        channel,
        ack_due,
        decide_due,
        release,
        ack_overdue=undecided and referral.acknowledged_at is None and now > ack_due,
        decide_overdue=undecided and now > decide_due,
    )


def queue(
    session: Session, channel: PoliceChannel | None = None, *, open_only: bool = True
) -> list[QueueEntry]:
    """Police referrals (of one channel, or of all), oldest first, with SLA states."""
    now = db.now(session)
    q = (
        select(Referral, Case, PoliceChannel)
        .join(Case, Case.id == Referral.case_id)
        .join(PoliceChannel, PoliceChannel.destination == Referral.destination)
        .where(Referral.kind.in_(POLICE_KINDS))
        .order_by(Referral.created_at, Referral.id)
    )
    if channel is not None:
        q = q.where(PoliceChannel.id == channel.id)
    if open_only:
        # A held referral stays open: police still have to clear it one day.
        q = q.where(Referral.decision.in_((Decision.NONE.value, Decision.HELD.value)))
    return [_entry(r, c, ch, now) for r, c, ch in session.execute(q.limit(1000)).all()]


def referral_for(
    session: Session, referral_id: int, channel: PoliceChannel | None = None
) -> QueueEntry:
    """One police referral; with a channel, only if it is that channel's."""
    row = session.execute(
        select(Referral, Case, PoliceChannel)
        .join(Case, Case.id == Referral.case_id)
        .join(PoliceChannel, PoliceChannel.destination == Referral.destination)
        .where(Referral.id == referral_id, Referral.kind.in_(POLICE_KINDS))
    ).first()
    if row is None or (channel is not None and row[2].id != channel.id):
        # Another channel's referral reads as absent: police see only their own.
        raise PoliceNotFoundError(f"no police referral {referral_id}")
    return _entry(row[0], row[1], row[2], db.now(session))


def mark_delivered(session: Session, referral: Referral, actor: str) -> None:
    """The package left (police fetched it): the referral is sent."""
    if referral.status != ReferralStatus.SENT:
        referral.status = ReferralStatus.SENT
        referral.sent_at = db.now(session)
        record_event(
            session,
            referral.case_id,
            CaseEventKind.REFERRAL_STATUS,
            actor=actor,
            detail="police fetched the signed package",
        )


def acknowledge(session: Session, referral: Referral, actor: str) -> bool:
    """Police have the referral in hand (stops the acknowledgement clock); idempotent."""
    if referral.acknowledged_at is not None:
        return False
    referral.acknowledged_at = db.now(session)
    audit.record(session, actor, AuditAction.POLICE_ACKNOWLEDGE, f"referral:{referral.id}")
    return True


def _decide(session: Session, referral: Referral, decision: Decision, actor: str) -> None:
    now = db.now(session)
    referral.decision = decision.value
    referral.decided_at = now
    referral.decided_by = actor[:200]
    referral.acknowledged_at = referral.acknowledged_at or now


def clear(session: Session, referral: Referral, actor: str) -> int:
    """Police clear the case: held notices go to the host now; returns notices released.

    Clearing a held referral lifts the hold on notices; the case's legal hold stays until a
    supervisor lifts it (evidence is kept rather than lost on a change of mind).
    """
    if referral.decision in (Decision.CLEARED.value, Decision.AUTO_RELEASED.value):
        return 0
    _decide(session, referral, Decision.CLEARED, actor)
    return clear_for_notice(session, referral.case_id, actor=actor)


def hold(session: Session, referral: Referral, reason: str, actor: str) -> int:
    """Police hold the case: its notices wait and its evidence is kept (legal hold)."""
    reason = reason.strip()
    if not reason or len(reason) > 2000:
        raise PoliceInvalidError("a hold needs a reason (1 to 2,000 characters)")
    if referral.decision == Decision.HELD.value:
        return 0
    if referral.decision:
        # Notices have gone to the host already: a hold now would promise what it can't.
        raise PoliceConflictError(
            f"referral {referral.id} was already {referral.decision.replace('_', ' ')}"
        )
    _decide(session, referral, Decision.HELD, actor)
    referral.hold_reason = reason
    case = session.get(Case, referral.case_id)
    if case is not None:
        case.legal_hold = True
    held = 0
    for notice in session.scalars(
        select(Notice).where(
            Notice.case_id == referral.case_id,
            Notice.status.in_((NoticeStatus.QUEUED, NoticeStatus.PAUSED)),
        )
    ):
        notice.status = NoticeStatus.HELD
        held += 1
    record_event(
        session, referral.case_id, CaseEventKind.POLICE_HELD, actor=actor, detail=reason[:500]
    )
    audit.record(
        session,
        actor,
        AuditAction.TAKEDOWN_POLICE_HELD,
        f"case:{referral.case_id}",
        {"referral": referral.id, "notices_held": held, "legal_hold": True},
    )
    return held


def release_overdue(session: Session, now: datetime | None = None) -> list[int]:
    """Apply each channel's auto-release rule; return the referrals released."""
    at = now or db.now(session)
    released = []
    for entry in queue(session, open_only=True):
        if entry.referral.decision:
            continue  # held by police: never released by the clock
        if entry.release_at is not None and at >= entry.release_at:
            ref = entry.referral
            # Decided first, so clear_for_notice keeps "auto_released" rather than "cleared".
            _decide(session, ref, Decision.AUTO_RELEASED, "system:police-auto-release")
            clear_for_notice(session, ref.case_id, actor="system:police-auto-release")
            released.append(ref.id)
    return released


def clear_case(session: Session, case_id: int, actor: str) -> int:
    """Record a clearance police gave by other means (telephone): the CLI path.

    Releases the case's held notices and decides its police referrals as cleared; refuses a
    case with nothing held, so a typo in the case number is not silently "cleared".
    """
    if session.get(Case, case_id) is None:
        raise PoliceNotFoundError(f"no case {case_id}")
    held = session.scalar(
        select(Notice.id).where(Notice.case_id == case_id, Notice.status == NoticeStatus.HELD)
    )
    if held is None:
        raise PoliceConflictError(f"case {case_id} has no notice held for police")
    return clear_for_notice(session, case_id, actor=actor)
