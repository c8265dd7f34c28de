"""Report Remove use cases: upload and hash, the counsellor's and the analyst's steps, sharing
the hashes in the `self-generated` bank, crypto-shredding the image, the receipt, the purge.

Services never commit: the caller owns the transaction. Steps that delete an image return the
blob id; the caller deletes the file once its transaction committed (the key is already gone
with the commit, so the blob is unreadable from that moment; the purge sweeps leftovers).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy.orm import Session

from openhotline import db
from openhotline.assessment import exposure
from openhotline.assessment.policy import AssessmentPolicy
from openhotline.audit import service as audit
from openhotline.audit.models import AuditAction
from openhotline.errors import (
    ConflictError,
    DomainError,
    ErrorKind,
    ForbiddenError,
    InvalidError,
    NotFoundError,
)
from openhotline.jobs import service as jobs
from openhotline.matching import service as matching
from openhotline.matching.models import HashBank, HashType
from openhotline.matching.policy import BankPolicy, BankSource
from openhotline.media.decode import Limits, MediaError, decode
from openhotline.media.hashing import FAST_MIN_SIDE, WEAK_QUALITY, MediaHashes, hash_decoded
from openhotline.reporting.receipts import new_receipt, normalise_receipt
from openhotline.reportremove.models import (
    OPEN_STATUSES,
    RemovalRequest,
    RemovalReveal,
    RemovalStatus,
)
from openhotline.reportremove.store import OneItemStore

SELF_GENERATED_BANK = "self-generated"
PUBLIC_ACTOR = "public"
# How a counsellor confirmed age and identity, by the helpline's own process.
IDENTITY_METHODS = ("phone", "chat", "video", "in_person")
# Why a request ended without its hashes being shared (the child sees neutral words).
DECLINE_REASONS = ("age_not_confirmed", "identity_not_confirmed", "no_contact", "withdrawn")
REJECT_REASONS = ("not_verifiable", "out_of_remit")
EXPIRED = "expired"
ORPHAN_GRACE = timedelta(hours=1)  # an upload's blob is written just before its row commits


class RemovalError(DomainError):
    """Every error Report Remove raises on purpose (catch this); raise a kind below."""


class RemovalInvalidError(RemovalError, InvalidError):
    """Bad input; the message is safe to show."""

    kind = ErrorKind.INVALID


class ImageRefusedError(RemovalInvalidError):
    """The upload is not an image we can take; `code` says why (too_large, unsupported...)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class RemovalNotFoundError(RemovalError, NotFoundError):
    """No such request."""

    kind = ErrorKind.NOT_FOUND


class RemovalConflictError(RemovalError, ConflictError):
    """The request is not in the state this step needs."""

    kind = ErrorKind.CONFLICT


class RemovalForbiddenError(RemovalError, ForbiddenError):
    """The analyst's exposure budget is used up."""

    kind = ErrorKind.FORBIDDEN


@dataclass(frozen=True)
class UploadLimits:
    """Upload limits (from settings)."""

    max_bytes: int
    max_pixels: int


@dataclass(frozen=True)
class Receipt:
    """What the child is shown once: the reference and the secret (never stored)."""

    request_id: int
    reference: str
    secret: str


@dataclass(frozen=True)
class Step:
    """One line of the status page."""

    key: str  # received, identity_confirmed, verified, shared, image_deleted
    at: datetime | None


@dataclass(frozen=True)
class PublicStatus:
    """What the status page shows: plain steps, and how a request ended (if it did)."""

    reference: str
    status: RemovalStatus
    steps: list[Step]
    closed_reason: str


def _secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def hash_upload(data: bytes, limits: UploadLimits) -> MediaHashes:
    """Decode through the media domain's safe path and hash; ImageRefusedError if we can't."""
    if not data:
        raise ImageRefusedError("empty", "the file is empty")
    if len(data) > limits.max_bytes:
        raise ImageRefusedError("too_large", "the file is too large")
    try:
        img = decode(
            data,
            Limits(max_bytes=limits.max_bytes, max_pixels=limits.max_pixels, max_frames=1),
            min_side=FAST_MIN_SIDE,
        )
    except MediaError as exc:
        code = {"unsupported_format": "unsupported", "too_large": "too_large"}.get(
            exc.code, "corrupt"
        )
        raise ImageRefusedError(code, exc.message) from exc
    return hash_decoded(data, img)


def submit(session: Session, store: OneItemStore, data: bytes, limits: UploadLimits) -> Receipt:
    """Hash an upload at once, keep it encrypted under its own key, and issue the receipt."""
    hashes = hash_upload(data, limits)
    blob_id, key = store.put(data)
    secret = new_receipt()
    row = RemovalRequest(
        reference=new_receipt(), secret_hash=_secret_hash(secret), status=RemovalStatus.RECEIVED,
        created_at=db.now(session), md5=hashes.md5, sha1=hashes.sha1, sha256=hashes.sha256,
        pdq=hashes.pdq, pdq_quality=hashes.pdq_quality, image_format=hashes.format[:10],
        width=hashes.width, height=hashes.height, blob_id=blob_id, image_key=key,
        identity_by="", identity_method="", verified_by="", classification="",
        closed_reason="",
    )  # fmt: skip
    session.add(row)
    session.flush()
    audit.record(
        session, PUBLIC_ACTOR, AuditAction.REMOVAL_RECEIVED, f"removal:{row.id}",
        {"format": hashes.format, "bytes": len(data)},
    )  # fmt: skip
    return Receipt(row.id, row.reference, secret)


def by_reference(session: Session, reference: str) -> RemovalRequest | None:
    """The request with this reference (as typed: dashes and case do not matter)."""
    code = normalise_receipt(reference[:64])
    if code is None:
        return None
    return session.scalar(select(RemovalRequest).where(RemovalRequest.reference == code))


def public_status(session: Session, reference: str, secret: str) -> PublicStatus | None:
    """The status for a receipt; None unless both the reference and the secret match."""
    row = by_reference(session, reference)
    code = normalise_receipt(secret[:64]) or ""
    given = _secret_hash(code)
    if row is None or not hmac.compare_digest(row.secret_hash, given):
        return None
    steps = [
        Step("received", row.created_at),
        Step("identity_confirmed", row.identity_at),
        Step("verified", row.verified_at),
        Step("shared", row.shared_at),
        Step("image_deleted", row.image_deleted_at),
    ]
    return PublicStatus(row.reference, row.status, steps, row.closed_reason)


def get(session: Session, request_id: int) -> RemovalRequest:
    """The request, or RemovalNotFoundError."""
    row = session.get(RemovalRequest, request_id)
    if row is None:
        raise RemovalNotFoundError("no such request")
    return row


def queue(session: Session, status: RemovalStatus, limit: int = 100) -> list[RemovalRequest]:
    """Open requests in one state, oldest first."""
    return list(
        session.scalars(
            select(RemovalRequest)
            .where(RemovalRequest.status == status)
            .order_by(RemovalRequest.created_at, RemovalRequest.id)
            .limit(limit)
        )
    )


def recent(session: Session, limit: int = 30) -> list[RemovalRequest]:
    """Requests that ended, newest first."""
    return list(
        session.scalars(
            select(RemovalRequest)
            .where(RemovalRequest.status.not_in(OPEN_STATUSES))
            .order_by(RemovalRequest.id.desc())
            .limit(limit)
        )
    )


def _expect(row: RemovalRequest, status: RemovalStatus) -> None:
    if row.status != status:
        raise RemovalConflictError(f"this request is {row.status.value.replace('_', ' ')}")


def _shred(session: Session, row: RemovalRequest, actor: str, why: str) -> str | None:
    """Forget the image's key (crypto-shredding); return the blob id whose file to delete."""
    blob_id = row.blob_id
    if row.image_key is None and blob_id is None:
        return None
    row.image_key = None
    row.blob_id = None
    row.image_deleted_at = db.now(session)
    audit.record(
        session, actor, AuditAction.REMOVAL_IMAGE_DELETED, f"removal:{row.id}", {"why": why}
    )
    return blob_id


def _close(session: Session, row: RemovalRequest, status: RemovalStatus, reason: str) -> None:
    row.status = status
    row.closed_reason = reason
    row.closed_at = db.now(session)


def confirm_identity(
    session: Session,
    request_id: int,
    actor: str,
    *,
    method: str,
    under_18: bool,
    identity_confirmed: bool,
) -> RemovalRequest:
    """The counsellor records that age (under 18) and identity were confirmed with the child."""
    row = get(session, request_id)
    _expect(row, RemovalStatus.RECEIVED)
    if method not in IDENTITY_METHODS:
        raise RemovalInvalidError(f"choose how you confirmed: {', '.join(IDENTITY_METHODS)}")
    if not (under_18 and identity_confirmed):
        raise RemovalInvalidError(
            "confirm both that the young person is under 18 and who they are, or decline"
        )
    row.status = RemovalStatus.IDENTITY_CONFIRMED
    row.identity_by = actor[:100]
    row.identity_at = db.now(session)
    row.identity_method = method
    audit.record(
        session, actor, AuditAction.REMOVAL_IDENTITY_CONFIRMED, f"removal:{row.id}",
        {"method": method},
    )  # fmt: skip
    return row


def decline(session: Session, request_id: int, actor: str, reason: str) -> str | None:
    """The counsellor declines (neutral reason for the child); the image is deleted."""
    row = get(session, request_id)
    _expect(row, RemovalStatus.RECEIVED)
    if reason not in DECLINE_REASONS:
        raise RemovalInvalidError(f"choose a reason: {', '.join(DECLINE_REASONS)}")
    _close(session, row, RemovalStatus.DECLINED, reason)
    row.identity_by = actor[:100]
    audit.record(
        session, actor, AuditAction.REMOVAL_DECLINED, f"removal:{row.id}", {"reason": reason}
    )
    return _shred(session, row, actor, "declined")


def self_generated_bank(session: Session, actor: str) -> HashBank:
    """The bank of verified self-generated images, created on first use.

    Its entries were verified by one analyst (not four eyes), so a match shows analysts a
    hint rather than assessing anything by itself.
    """
    bank = session.scalar(select(HashBank).where(HashBank.name == SELF_GENERATED_BANK))
    if bank is None:
        bank = matching.create_bank(
            session,
            SELF_GENERATED_BANK,
            "Report Remove: images young people asked to have removed, verified by an analyst",
            source=BankSource.OWN,
        )
        matching.set_policy(session, bank, BankPolicy.REVIEW_WITH_HINT, actor)
    return bank


def verify(
    session: Session,
    request_id: int,
    actor: str,
    policy: AssessmentPolicy,
    classification: str,
) -> str | None:
    """The analyst confirms: hashes into the self-generated bank, then the image is deleted."""
    row = get(session, request_id)
    _expect(row, RemovalStatus.IDENTITY_CONFIRMED)
    cls = policy.scheme.get(classification)
    if cls is None or not cls.illegal:
        choices = ", ".join(c.code for c in policy.scheme.classes if c.illegal)
        raise RemovalInvalidError(f"choose a classification to share ({choices}), or reject")
    local = f"{policy.scheme.name}:{cls.code}"
    bank = self_generated_bank(session, actor)
    values = [(HashType.SHA256, row.sha256), (HashType.MD5, row.md5), (HashType.SHA1, row.sha1)]
    if row.pdq_quality >= WEAK_QUALITY:
        values.append((HashType.PDQ, row.pdq))
    for hash_type, value in values:
        matching.add_entry(session, bank, hash_type, value, f"report-remove {row.id}", local, actor)
    now = db.now(session)
    row.verified_by = actor[:100]
    row.verified_at = now
    row.classification = local
    row.shared_at = now
    row.status = RemovalStatus.COMPLETED
    row.closed_at = now
    audit.record(
        session, actor, AuditAction.REMOVAL_SHARED, f"removal:{row.id}",
        {"bank": SELF_GENERATED_BANK, "classification": local, "hashes": len(values)},
    )  # fmt: skip
    hide(session, exposure_user_of(session, row.id), actor, row.id)
    # Publish the hash list promptly (idempotent; the schedule would do it later anyway).
    jobs.enqueue(session, "lists.publish", {}, dedupe_key=f"lists.publish:removal:{row.id}")
    return _shred(session, row, actor, "shared")


def reject(session: Session, request_id: int, actor: str, reason: str) -> str | None:
    """The analyst rejects (neutral reason for the child); the image is deleted."""
    row = get(session, request_id)
    _expect(row, RemovalStatus.IDENTITY_CONFIRMED)
    if reason not in REJECT_REASONS:
        raise RemovalInvalidError(f"choose a reason: {', '.join(REJECT_REASONS)}")
    _close(session, row, RemovalStatus.REJECTED, reason)
    row.verified_by = actor[:100]
    row.verified_at = db.now(session)
    audit.record(
        session, actor, AuditAction.REMOVAL_REJECTED, f"removal:{row.id}", {"reason": reason}
    )
    return _shred(session, row, actor, "rejected")


# --- the analyst's preview: blurred unless revealed; reveals share the exposure budget ---


def exposure_user_of(session: Session, request_id: int) -> list[int]:
    """Users with a live reveal of this request (closed when it is decided)."""
    now = db.now(session)
    return list(
        session.scalars(
            select(RemovalReveal.user_id).where(
                RemovalReveal.request_id == request_id,
                RemovalReveal.closed_at.is_(None),
                RemovalReveal.ends_at > now,
            )
        )
    )


def exposure_seconds(session: Session, user_id: int, day_start: datetime, now: datetime) -> int:
    """Seconds of Report Remove reveals in the user's day (counted by exposure.budget_of)."""
    rows = session.scalars(
        select(RemovalReveal).where(
            RemovalReveal.user_id == user_id,
            RemovalReveal.started_at > day_start - timedelta(days=1),
            RemovalReveal.ends_at > day_start,
            or_(RemovalReveal.closed_at.is_(None), RemovalReveal.closed_at > day_start),
        )
    )
    total = 0
    for r in rows:
        start = max(r.started_at, day_start)
        end = min(r.closed_at or now, r.ends_at, now)
        total += max(0, int((end - start).total_seconds() + 0.999))
    return total


# One budget for every screen: the assessment console counts these reveals too.
exposure.add_exposure_source(exposure_seconds)


def budget_of(session: Session, user_id: int, policy: AssessmentPolicy) -> exposure.Budget:
    """Today's exposure: the assessment console's reveals and Report Remove's together."""
    return exposure.budget_of(session, user_id, policy)


def live_reveal(session: Session, user_id: int, request_id: int) -> RemovalReveal | None:
    """The user's live reveal of this request, if any."""
    now = db.now(session)
    return session.scalar(
        select(RemovalReveal)
        .where(
            RemovalReveal.user_id == user_id,
            RemovalReveal.request_id == request_id,
            RemovalReveal.closed_at.is_(None),
            RemovalReveal.ends_at > now,
        )
        .order_by(RemovalReveal.id.desc())
        .limit(1)
    )


def reveal(
    session: Session, request_id: int, user_id: int, actor: str, policy: AssessmentPolicy
) -> RemovalReveal:
    """Reveal a request's image (audited; counts toward today's exposure budget)."""
    row = get(session, request_id)
    _expect(row, RemovalStatus.IDENTITY_CONFIRMED)
    budget = budget_of(session, user_id, policy)
    if budget.exhausted:
        audit.record(
            session, actor, AuditAction.REMOVAL_REVEAL_REFUSED, f"removal:{row.id}",
            {"reason": "budget"},
        )  # fmt: skip
        raise RemovalForbiddenError(
            "Your exposure budget for today is used up. Please stop viewing material and "
            "talk to your supervisor."
        )
    now = db.now(session)
    exposure.hide(session, user_id, actor)  # one thing revealed at a time, anywhere
    _close_own(session, user_id, now)
    window = min(policy.reveal_window_seconds, budget.left_seconds)
    rev = RemovalReveal(
        user_id=user_id, request_id=row.id, started_at=now, ends_at=now + timedelta(seconds=window)
    )
    session.add(rev)
    session.flush()
    audit.record(
        session, actor, AuditAction.REMOVAL_REVEAL, f"removal:{row.id}",
        {"reveal": rev.id, "window_seconds": window, "used_seconds": budget.used_seconds},
    )  # fmt: skip
    return rev


def _close_own(session: Session, user_id: int, now: datetime) -> int:
    result = session.execute(
        update(RemovalReveal)
        .where(
            RemovalReveal.user_id == user_id,
            RemovalReveal.closed_at.is_(None),
            RemovalReveal.ends_at > now,
        )
        .values(closed_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def hide(session: Session, user_ids: int | list[int], actor: str, request_id: int) -> None:
    """Blur the preview again for these users (stops the exposure clock)."""
    now = db.now(session)
    for user_id in [user_ids] if isinstance(user_ids, int) else user_ids:
        if _close_own(session, user_id, now):
            audit.record(session, actor, AuditAction.REMOVAL_HIDE, f"removal:{request_id}", {})


def image_for_preview(session: Session, store: OneItemStore, request_id: int) -> bytes | None:
    """The decrypted image of a request awaiting verification (None once deleted)."""
    row = get(session, request_id)
    if row.status != RemovalStatus.IDENTITY_CONFIRMED or not row.blob_id or not row.image_key:
        return None
    return store.get(row.blob_id, row.image_key)


# --- retention ---


@dataclass(frozen=True)
class PurgeResult:
    """What a purge did: requests expired, and blob files to delete after the commit."""

    expired: int
    blobs: list[str]


def _stale(session: Session, unclaimed_days: int, image_days: int) -> ColumnElement[bool]:
    now = db.now(session)
    return or_(
        (RemovalRequest.status == RemovalStatus.RECEIVED)
        & (RemovalRequest.created_at < now - timedelta(days=unclaimed_days)),
        RemovalRequest.image_key.is_not(None)
        & (RemovalRequest.created_at < now - timedelta(days=image_days)),
    )


def purge_due(
    session: Session, store: OneItemStore, *, unclaimed_days: int, image_days: int
) -> bool:
    """True when a purge has work: a stale request, or more files on disk than keys held."""
    if session.scalar(
        select(RemovalRequest.id).where(_stale(session, unclaimed_days, image_days)).limit(1)
    ):
        return True
    held = session.scalar(
        select(func.count()).select_from(RemovalRequest).where(RemovalRequest.blob_id.is_not(None))
    )
    return len(store.blob_ids()) > int(held or 0)


def purge(
    session: Session, *, unclaimed_days: int, image_days: int, actor: str = "retention"
) -> PurgeResult:
    """Expire requests nobody took further in time and delete every image held too long."""
    stale = session.scalars(
        select(RemovalRequest).where(_stale(session, unclaimed_days, image_days))
    ).all()
    blobs: list[str] = []
    expired = 0
    for row in stale:
        if row.status in OPEN_STATUSES:
            _close(session, row, RemovalStatus.EXPIRED, EXPIRED)
            audit.record(session, actor, AuditAction.REMOVAL_EXPIRED, f"removal:{row.id}", {})
            expired += 1
        blob = _shred(session, row, actor, "retention")
        if blob:
            blobs.append(blob)
    return PurgeResult(expired, blobs)


def orphan_blobs(session: Session, store: OneItemStore) -> list[str]:
    """Blob files no request holds a key for (older than a grace period): safe to delete."""
    held = set(
        session.scalars(select(RemovalRequest.blob_id).where(RemovalRequest.blob_id.is_not(None)))
    )
    cutoff = (db.now(session) - ORPHAN_GRACE).timestamp()
    out = []
    for blob_id in store.blob_ids():
        if blob_id in held:
            continue
        try:
            if (store.root / blob_id).stat().st_mtime < cutoff:
                out.append(blob_id)
        except FileNotFoundError:
            continue
    return out


def counts(session: Session) -> dict[str, int]:
    """Requests per status (console)."""
    rows = session.execute(
        select(RemovalRequest.status, func.count()).group_by(RemovalRequest.status)
    ).all()
    return {str(s.value if isinstance(s, RemovalStatus) else s): int(n) for s, n in rows}
