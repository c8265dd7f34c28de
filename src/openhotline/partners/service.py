"""Partner use cases: organisations, keys (shown once, stored hashed), authentication.

Services never commit: the caller owns the transaction.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from openhotline import db
from openhotline.audit.models import AuditAction
from openhotline.audit.service import record
from openhotline.config import hash_api_key
from openhotline.errors import (
    ConflictError,
    DomainError,
    ErrorKind,
    ForbiddenError,
    InvalidError,
    NotFoundError,
    UnauthenticatedError,
)
from openhotline.partners.models import ApiKey, OrgKind, PartnerOrg, Scope

TOKEN_PREFIX = "ohp_"  # noqa: S105 - a public marker, not a secret
LAST_USED_RESOLUTION = timedelta(minutes=1)


class PartnerError(DomainError):
    """Every error partner code raises on purpose (catch this); raise a kind below."""


class PartnerInvalidError(PartnerError, InvalidError):
    """Bad input or a refused operation; the message is safe to show."""

    kind = ErrorKind.INVALID


class PartnerUnauthenticatedError(PartnerError, UnauthenticatedError):
    """The key is unknown or revoked."""

    kind = ErrorKind.UNAUTHENTICATED


class PartnerForbiddenError(PartnerError, ForbiddenError):
    """The caller may not do this."""

    kind = ErrorKind.FORBIDDEN


class PartnerNotFoundError(PartnerError, NotFoundError):
    """The thing named does not exist."""

    kind = ErrorKind.NOT_FOUND


class PartnerConflictError(PartnerError, ConflictError):
    """The request clashes with the current state."""

    kind = ErrorKind.CONFLICT


@dataclass(frozen=True)
class PartnerIdentity:
    """Who is calling with a partner key, and what the key allows."""

    org_id: int | None
    name: str
    kind: str | None
    country: str | None
    key_id: int | None
    scopes: frozenset[Scope]
    digest: str

    @property
    def actor(self) -> str:
        """The name under which this caller appears in the audit log."""
        return f"partner:{self.name}"

    @property
    def source(self) -> str:
        """The Report.source of reports this caller submits."""
        return f"partner:{self.name}"[:100]


def parse_scopes(values: Iterable[str]) -> frozenset[Scope]:
    """Turn scope names into Scopes; PartnerError names the unknown ones."""
    known = {s.value: s for s in Scope}
    wanted = [v.strip() for v in values if v.strip()]
    bad = [v for v in wanted if v not in known]
    if bad:
        raise PartnerInvalidError(f"unknown scope(s) {bad}; known: {sorted(known)}")
    if not wanted:
        raise PartnerInvalidError("a key needs at least one scope")
    return frozenset(known[v] for v in wanted)


def parse_networks(values: Iterable[str]) -> list[str]:
    """Validate an IP allow-list (addresses or CIDR networks) and return it normalised."""
    out = []
    for raw in values:
        if not raw.strip():
            continue
        try:
            out.append(str(ipaddress.ip_network(raw.strip(), strict=False)))
        except ValueError as exc:
            raise PartnerInvalidError(f"not an IP address or network: {raw!r}") from exc
    return out


def create_org(
    session: Session, name: str, kind: str, country: str | None, *, actor: str
) -> PartnerOrg:
    """Create a partner organisation (names are unique)."""
    name = name.strip()
    if not name or len(name) > 100:
        raise PartnerInvalidError("name must be 1 to 100 characters")
    if kind not in {k.value for k in OrgKind}:
        raise PartnerInvalidError(f"kind must be one of {[k.value for k in OrgKind]}")
    if country is not None:
        country = country.strip().upper() or None
        if country is not None and (len(country) != 2 or not country.isalpha()):
            raise PartnerInvalidError("country must be an ISO 3166 two-letter code")
    if session.execute(select(PartnerOrg.id).where(PartnerOrg.name == name)).first():
        raise PartnerConflictError(f"an organisation named {name!r} exists")
    org = PartnerOrg(name=name, kind=kind, country=country)
    session.add(org)
    session.flush()
    record(
        session,
        actor,
        AuditAction.PARTNER_ORG_CREATE,
        f"partner_org:{org.id}",
        {"name": name, "kind": kind},
    )
    return org


def get_org(session: Session, org_id: int) -> PartnerOrg:
    """Return an organisation or raise PartnerNotFoundError."""
    org = session.get(PartnerOrg, org_id)
    if org is None:
        raise PartnerNotFoundError(f"no organisation {org_id}")
    return org


def find_org(session: Session, name: str) -> PartnerOrg:
    """Return an organisation by name or raise PartnerNotFoundError."""
    org = session.execute(select(PartnerOrg).where(PartnerOrg.name == name)).scalar_one_or_none()
    if org is None:
        raise PartnerNotFoundError(f"no organisation named {name!r}")
    return org


def list_orgs(session: Session) -> list[PartnerOrg]:
    """Return all organisations by name."""
    return list(session.execute(select(PartnerOrg).order_by(PartnerOrg.name)).scalars())


def new_token() -> str:
    """Return a fresh API key: 256 random bits, URL-safe."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def create_key(
    session: Session,
    org: PartnerOrg,
    scopes: Iterable[str],
    *,
    actor: str,
    ip_allow: Iterable[str] = (),
    label: str = "",
) -> tuple[ApiKey, str]:
    """Create a key for org; return the row and the key itself (shown once, never stored)."""
    parsed = parse_scopes(scopes)
    networks = parse_networks(ip_allow)
    token = new_token()
    key = ApiKey(
        org_id=org.id,
        prefix=token[:12],
        key_hash=hash_api_key(token),
        scopes=" ".join(sorted(s.value for s in parsed)),
        ip_allow=" ".join(networks),
        label=label[:100],
    )
    session.add(key)
    session.flush()
    record(
        session,
        actor,
        AuditAction.PARTNER_KEY_CREATE,
        f"partner_key:{key.id}",
        {"org": org.name, "scopes": key.scopes, "ip_allow": key.ip_allow, "prefix": key.prefix},
    )
    return key, token


def get_key(session: Session, key_id: int) -> ApiKey:
    """Return a key row or raise PartnerNotFoundError."""
    key = session.get(ApiKey, key_id)
    if key is None:
        raise PartnerNotFoundError(f"no API key {key_id}")
    return key


def revoke_key(session: Session, key_id: int, *, actor: str) -> ApiKey:
    """Revoke a key at once (idempotent)."""
    key = get_key(session, key_id)
    if key.revoked_at is None:
        key.revoked_at = db.now(session)
        session.flush()
        record(
            session,
            actor,
            AuditAction.PARTNER_KEY_REVOKE,
            f"partner_key:{key.id}",
            {"prefix": key.prefix},
        )
    return key


def rotate_key(session: Session, key_id: int, *, actor: str) -> tuple[ApiKey, str]:
    """Replace a key by a new one with the same scopes and allow-list; revoke the old one."""
    old = get_key(session, key_id)
    if old.revoked_at is not None:
        raise PartnerConflictError("this key is revoked; create a new one")
    new, token = create_key(
        session,
        old.org,
        old.scopes.split(),
        actor=actor,
        ip_allow=old.ip_allow.split(),
        label=old.label,
    )
    old.replaced_by_id = new.id
    revoke_key(session, old.id, actor=actor)
    return new, token


def _ip_allowed(ip_allow: str, client_ip: str | None) -> bool:
    if not ip_allow:
        return True
    if client_ip is None:
        return False
    try:
        addr = ipaddress.ip_address(client_ip)
    except ValueError:
        return False
    return any(addr in ipaddress.ip_network(n) for n in ip_allow.split())


def authenticate(
    session: Session,
    token: str,
    client_ip: str | None,
    *,
    static_digests: Iterable[str] = (),
    static_scopes: Iterable[str] = (),
) -> PartnerIdentity:
    """Return the caller of a key: a database key first, else a static settings key."""
    digest = hash_api_key(token)
    key = session.execute(select(ApiKey).where(ApiKey.key_hash == digest)).scalar_one_or_none()
    if key is not None:
        if key.revoked_at is not None:
            raise PartnerUnauthenticatedError("this API key has been revoked")
        org = key.org
        if not org.active:
            raise PartnerForbiddenError("this organisation is suspended")
        if not _ip_allowed(key.ip_allow, client_ip):
            raise PartnerForbiddenError("this API key may not be used from this address")
        now = db.now(session)
        if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
            key.last_used_at = now
        return PartnerIdentity(
            org.id,
            org.name,
            org.kind,
            org.country,
            key.id,
            parse_scopes(key.scopes.split()),
            digest,
        )
    for stored in static_digests:
        if hmac.compare_digest(stored.lower(), digest):
            return PartnerIdentity(
                None, digest[:12], None, None, None, parse_scopes(static_scopes), digest
            )
    raise PartnerUnauthenticatedError("unknown API key")


def use(
    session: Session, who: PartnerIdentity, action: AuditAction, target: str, **details: object
) -> None:
    """Audit one use of a partner key (e.g. which list version was downloaded)."""
    record(session, who.actor, action, target, {"key_id": who.key_id, **details})
