"""Hosting trace use cases: compute a trace (network, no DB) and store it with the case.

Services never commit: the caller owns the transaction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from openhotline import db
from openhotline.cases.models import CaseEventKind
from openhotline.cases.service import record_event
from openhotline.net.guard import ResolutionError, Resolver, ip_literal
from openhotline.trace.cdn import CdnRanges
from openhotline.trace.geoip import GeoIP
from openhotline.trace.models import HostingTrace
from openhotline.trace.rdap import Rdap, RdapError


@dataclass
class TraceResult:
    """The outcome of one trace."""

    host: str
    ips: list[str] = field(default_factory=list)
    ip: str | None = None
    country: str | None = None
    asn: int | None = None
    as_org: str | None = None
    network: str | None = None
    network_name: str | None = None
    abuse_email: str | None = None
    registrar_abuse_email: str | None = None
    cdn: str | None = None
    errors: list[str] = field(default_factory=list)


@dataclass
class Tracer:
    """The adapters a trace needs."""

    resolver: Resolver
    geoip: GeoIP
    rdap: Rdap
    cdns: CdnRanges


def compute_trace(tracer: Tracer, host: str) -> TraceResult:
    """DNS -> IPs -> country/ASN -> RDAP abuse contact, with the CDN flag; no DB access."""
    result = TraceResult(host=host)
    literal = ip_literal(host)
    if literal is not None:
        result.ips = [str(literal)]
    else:
        try:
            result.ips = tracer.resolver.resolve(host)
        except ResolutionError as exc:
            result.errors.append(str(exc))
    if not result.ips:
        result.errors.append(f"{host} does not resolve")
        return result
    result.ip = result.ips[0]
    geo = tracer.geoip.lookup(result.ip)
    result.country, result.asn, result.as_org = geo.country, geo.asn, geo.as_org
    result.cdn = tracer.cdns.cdn_for(result.ip)
    try:
        net = tracer.rdap.ip(result.ip)
        result.network, result.network_name = net.cidr, net.name
        result.abuse_email = net.abuse_emails[0] if net.abuse_emails else None
        result.country = result.country or (net.country.upper() if net.country else None)
    except RdapError as exc:
        result.errors.append(str(exc))
    if literal is None:
        try:
            result.registrar_abuse_email = tracer.rdap.registrar_abuse(host)
        except RdapError as exc:
            result.errors.append(str(exc))
    if result.abuse_email is None:
        result.errors.append("no abuse contact found in RDAP")
    return result


def store_trace(session: Session, case_id: int, result: TraceResult) -> HostingTrace:
    """Save a trace for a case and record the event."""
    row = HostingTrace(
        case_id=case_id,
        traced_at=db.now(session),
        host=result.host,
        ips=json.dumps(result.ips),
        ip=result.ip,
        country=result.country,
        asn=result.asn,
        as_org=result.as_org,
        network=result.network,
        network_name=result.network_name,
        abuse_email=result.abuse_email,
        registrar_abuse_email=result.registrar_abuse_email,
        cdn=result.cdn,
        error="; ".join(result.errors) or None,
    )
    session.add(row)
    session.flush()
    where = f"{result.ip or '?'} {result.country or '??'} AS{result.asn or '?'}"
    if result.cdn:
        where += f"; hosted behind a CDN ({result.cdn}): notice the CDN and ask for the origin"
    record_event(session, case_id, CaseEventKind.TRACED, actor="trace", detail=where)
    return row


def latest_trace(session: Session, case_id: int) -> HostingTrace | None:
    """The most recent trace of a case."""
    return session.execute(
        select(HostingTrace)
        .where(HostingTrace.case_id == case_id)
        .order_by(HostingTrace.id.desc())
        .limit(1)
    ).scalar_one_or_none()
