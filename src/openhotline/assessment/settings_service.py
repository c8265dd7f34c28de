"""Runtime assessment settings: administrators override the configured defaults (audited).

Services never commit: the caller owns the transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from openhotline import db
from openhotline.assessment.models import PolicySetting
from openhotline.audit import service as audit
from openhotline.audit.models import AuditAction
from openhotline.errors import InvalidError


@dataclass(frozen=True)
class Tunable:
    """A setting an administrator may change at runtime, with its bounds."""

    key: str
    label: str
    minimum: int
    maximum: int


TUNABLES: dict[str, Tunable] = {
    t.key: t
    for t in (
        Tunable("exposure_budget_minutes", "Daily exposure budget (minutes)", 5, 1440),
        Tunable("reveal_window_seconds", "Longest single reveal (seconds)", 10, 3600),
        Tunable("confirmations_required", "Analysts who must agree on illegal (2 or 3)", 2, 3),
        Tunable("claim_minutes", "Claim lifetime (minutes)", 5, 480),
    )
}


class SettingError(InvalidError):
    """A setting change that is refused; the message says why."""


def overrides(session: Session) -> dict[str, int]:
    """Return the runtime overrides in force."""
    rows = session.execute(select(PolicySetting.key, PolicySetting.value)).all()
    return {row.key: int(row.value) for row in rows if row.key in TUNABLES}


def set_value(session: Session, key: str, raw: str, *, actor: str, default: int) -> int:
    """Change one setting; audited as setting.change with the old and new value."""
    tunable = TUNABLES.get(key)
    if tunable is None:
        raise SettingError(f"unknown setting {key!r}")
    text = raw.strip()
    if not text.isdigit() or len(text) > 6:
        raise SettingError(f"{tunable.label}: a whole number is required")
    value = int(text)
    if not tunable.minimum <= value <= tunable.maximum:
        raise SettingError(f"{tunable.label}: between {tunable.minimum} and {tunable.maximum}")
    row = session.get(PolicySetting, key)
    old = int(row.value) if row else default
    if row is None:
        session.add(
            PolicySetting(key=key, value=str(value), updated_at=db.now(session), updated_by=actor)
        )
    else:
        row.value, row.updated_at, row.updated_by = str(value), db.now(session), actor
    audit.record(
        session, actor, AuditAction.SETTING_CHANGE, f"setting:{key}", {"from": old, "to": value}
    )
    session.flush()
    return value
