"""The helpline's referral directory: add, edit, retire and find resources; import a CSV;
link the resources a contact was referred to.

Services never commit: the caller owns the transaction. Changes to the directory are
audited (codes and ids only).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from openhotline import db
from openhotline.audit import service as audit
from openhotline.audit.models import AuditAction
from openhotline.errors import ConflictError, InvalidError, NotFoundError
from openhotline.helpline.resource_models import ContactResource, HelplineResource
from openhotline.helpline.taxonomy import Taxonomy

CODE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,59}$")
CSV_COLUMNS = ("code", "name", "category", "region", "age_min", "age_max", "reach", "description")
REQUIRED_COLUMNS = frozenset({"code", "name", "category"})
MAX_AGE = 120
LIMITS = {"name": 200, "reach": 300, "description": 1000}


class ResourceRejectedError(InvalidError):
    """Resource input that cannot be saved; message and details are safe to show."""


@dataclass(frozen=True)
class ResourceIn:
    """A resource as entered (form, CSV row): checked by `check_resource`."""

    code: str
    name: str
    category: str
    region: str | None = None
    age_min: int | None = None
    age_max: int | None = None
    reach: str = ""
    description: str = ""


@dataclass(frozen=True)
class ResourceFilter:
    """Directory filters: None means any. Age matches resources whose range contains it."""

    region: str | None = None
    category: str | None = None
    age: int | None = None
    include_retired: bool = False


def _age(text: str, field: str, problems: list[str]) -> int | None:
    text = text.strip()
    if not text:
        return None
    if not text.isdigit() or int(text) > MAX_AGE:
        problems.append(f"{field}: a whole number of years from 0 to {MAX_AGE}")
        return None
    return int(text)


def resource_of_fields(fields: Mapping[str, str]) -> tuple[ResourceIn | None, list[str]]:
    """Turn text fields (a form or a CSV row) into a ResourceIn, or list the problems."""
    problems: list[str] = []

    def text(name: str) -> str:
        return (fields.get(name) or "").strip()

    age_min = _age(text("age_min"), "age_min", problems)
    age_max = _age(text("age_max"), "age_max", problems)
    if problems:
        return None, problems
    data = ResourceIn(
        code=text("code"),
        name=text("name"),
        category=text("category"),
        region=text("region") or None,
        age_min=age_min,
        age_max=age_max,
        reach=text("reach"),
        description=text("description"),
    )
    return data, []


def check_resource(data: ResourceIn, taxonomy: Taxonomy) -> list[str]:
    """Return one 'field: problem' line per thing wrong with a resource."""
    problems: list[str] = []
    if not CODE_RE.match(data.code):
        problems.append(
            "code: 1-60 characters of a-z, 0-9, '-' or '_', starting with a letter or digit"
        )
    if not data.name:
        problems.append("name: required")
    if data.category not in taxonomy.categories:
        problems.append(f"category: unknown code {data.category!r}")
    if data.region is not None and data.region not in taxonomy.regions:
        problems.append(f"region: unknown code {data.region!r}")
    if data.age_min is not None and data.age_max is not None and data.age_min > data.age_max:
        problems.append("age_max: must not be below age_min")
    for field, limit in LIMITS.items():
        if len(getattr(data, field)) > limit:
            problems.append(f"{field}: at most {limit} characters")
    return problems


def _by_code(session: Session, code: str) -> HelplineResource | None:
    return session.execute(
        select(HelplineResource).where(HelplineResource.code == code)
    ).scalar_one_or_none()


def get_resource(session: Session, resource_id: int) -> HelplineResource:
    """Return a resource by id."""
    resource = session.get(HelplineResource, resource_id)
    if resource is None:
        raise NotFoundError(f"no resource {resource_id}")
    return resource


def _apply(resource: HelplineResource, data: ResourceIn) -> None:
    resource.name = data.name
    resource.category = data.category
    resource.region = data.region
    resource.age_min = data.age_min
    resource.age_max = data.age_max
    resource.reach = data.reach
    resource.description = data.description


def add_resource(
    session: Session, data: ResourceIn, *, taxonomy: Taxonomy, actor: str
) -> HelplineResource:
    """Add a resource to the directory (its code must be new) and audit it."""
    problems = check_resource(data, taxonomy)
    if problems:
        raise ResourceRejectedError("invalid resource", problems)
    if _by_code(session, data.code) is not None:
        raise ResourceRejectedError("invalid resource", [f"code: {data.code!r} is already in use"])
    resource = HelplineResource(code=data.code, created_at=db.now(session))
    _apply(resource, data)
    session.add(resource)
    session.flush()
    audit.record(
        session,
        actor,
        AuditAction.HELPLINE_RESOURCE_SAVED,
        f"helpline_resource:{resource.id}",
        {"code": resource.code, "change": "added"},
    )
    return resource


def edit_resource(
    session: Session,
    resource: HelplineResource,
    data: ResourceIn,
    *,
    taxonomy: Taxonomy,
    actor: str,
) -> HelplineResource:
    """Change a resource's description (its code stays: trend columns are keyed by it)."""
    data = ResourceIn(**{**data.__dict__, "code": resource.code})
    problems = check_resource(data, taxonomy)
    if problems:
        raise ResourceRejectedError("invalid resource", problems)
    _apply(resource, data)
    audit.record(
        session,
        actor,
        AuditAction.HELPLINE_RESOURCE_SAVED,
        f"helpline_resource:{resource.id}",
        {"code": resource.code, "change": "edited"},
    )
    return resource


def retire_resource(
    session: Session, resource: HelplineResource, *, actor: str, retire: bool = True
) -> HelplineResource:
    """Retire a resource (no longer offered; its counts stay) or bring it back."""
    if retire and resource.retired_at is not None:
        raise ConflictError("this resource is already retired")
    if not retire and resource.retired_at is None:
        raise ConflictError("this resource is not retired")
    resource.retired_at = db.now(session) if retire else None
    audit.record(
        session,
        actor,
        AuditAction.HELPLINE_RESOURCE_SAVED,
        f"helpline_resource:{resource.id}",
        {"code": resource.code, "change": "retired" if retire else "restored"},
    )
    return resource


def find_resources(session: Session, flt: ResourceFilter | None = None) -> list[HelplineResource]:
    """Resources matching the filter, by category then name.

    A nationwide resource (no region) matches every region; an open age limit matches
    every age.
    """
    flt = flt or ResourceFilter()
    query = select(HelplineResource).order_by(
        HelplineResource.category, HelplineResource.name, HelplineResource.id
    )
    if not flt.include_retired:
        query = query.where(HelplineResource.retired_at.is_(None))
    if flt.region:
        query = query.where(
            or_(HelplineResource.region.is_(None), HelplineResource.region == flt.region)
        )
    if flt.category:
        query = query.where(HelplineResource.category == flt.category)
    if flt.age is not None:
        query = query.where(
            or_(HelplineResource.age_min.is_(None), HelplineResource.age_min <= flt.age),
            or_(HelplineResource.age_max.is_(None), HelplineResource.age_max >= flt.age),
        )
    return list(session.execute(query).scalars())


def check_picked(session: Session, resource_ids: Iterable[int]) -> list[str]:
    """Problems with the resources picked for a contact (unknown or retired)."""
    ids = list(dict.fromkeys(resource_ids))
    if not ids:
        return []
    found = {
        r.id: r
        for r in session.execute(
            select(HelplineResource).where(HelplineResource.id.in_(ids))
        ).scalars()
    }
    problems = []
    for rid in ids:
        resource = found.get(rid)
        if resource is None:
            problems.append(f"resources: unknown resource {rid}")
        elif resource.retired_at is not None:
            problems.append(f"resources: {resource.name!r} is retired")
    return problems


def link_resources(session: Session, contact_id: int, resource_ids: Iterable[int]) -> None:
    """Record the resources a contact was referred to (ids checked by `check_picked`)."""
    for rid in dict.fromkeys(resource_ids):
        session.add(ContactResource(contact_id=contact_id, resource_id=rid))
    session.flush()


def resources_of_contact(session: Session, contact_id: int) -> list[HelplineResource]:
    """The resources a contact was referred to."""
    return list(
        session.execute(
            select(HelplineResource)
            .join(ContactResource, ContactResource.resource_id == HelplineResource.id)
            .where(ContactResource.contact_id == contact_id)
            .order_by(HelplineResource.name)
        ).scalars()
    )


@dataclass(frozen=True)
class ImportResult:
    """What an import did: rows added and updated, or the problems of each bad row."""

    added: int
    updated: int
    errors: list[str]


def import_csv(session: Session, text: str, *, taxonomy: Taxonomy, actor: str) -> ImportResult:
    """Add or update resources from CSV text with a header (columns: CSV_COLUMNS).

    All or nothing: when any row is bad, nothing is saved and every bad row is listed as
    'row N: field: problem' (N counts lines of the file, the header being row 1).
    """
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = sorted(REQUIRED_COLUMNS - set(header))
    unknown = sorted(set(header) - set(CSV_COLUMNS))
    if missing or unknown:
        bad_header = []
        if missing:
            bad_header.append(f"header: missing column(s) {', '.join(missing)}")
        if unknown:
            bad_header.append(f"header: unknown column(s) {', '.join(unknown)}")
        return ImportResult(0, 0, bad_header)
    reader.fieldnames = header
    errors: list[str] = []
    rows: list[ResourceIn] = []
    seen: dict[str, int] = {}
    for row in reader:
        line = reader.line_num
        if None in row:
            errors.append(f"row {line}: more fields than columns")
            continue
        data, problems = resource_of_fields({k: v or "" for k, v in row.items()})
        if data is not None:
            problems = check_resource(data, taxonomy)
            if data.code in seen:
                problems.append(f"code: {data.code!r} already on row {seen[data.code]}")
            seen.setdefault(data.code, line)
        errors += [f"row {line}: {p}" for p in problems]
        if data is not None and not problems:
            rows.append(data)
    if errors:
        return ImportResult(0, 0, errors)
    if not rows:
        return ImportResult(0, 0, ["the file has no rows"])
    added = updated = 0
    for data in rows:
        existing = _by_code(session, data.code)
        if existing is None:
            add_resource(session, data, taxonomy=taxonomy, actor=actor)
            added += 1
        else:
            edit_resource(session, existing, data, taxonomy=taxonomy, actor=actor)
            updated += 1
    return ImportResult(added, updated, [])
