"""The assessment policy in force: scheme, four eyes, claims, exposure budget (from settings)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from openhotline.assessment import settings_service
from openhotline.assessment.schemes import Scheme, load_scheme
from openhotline.config import AssessmentSettings


@dataclass(frozen=True)
class AssessmentPolicy:
    """Everything the assessment services need to know about configuration."""

    scheme: Scheme
    confirmations_required: int = 2  # distinct analysts agreeing on an illegal class (2 or 3)
    claim_minutes: int = 30
    exposure_budget_seconds: int = 5 * 3600
    reveal_window_seconds: int = 120

    def __post_init__(self) -> None:
        if self.confirmations_required not in (2, 3):
            raise ValueError("confirmations_required must be 2 or 3")


def policy_from(
    scheme: str = "default",
    confirmations_required: int = 2,
    claim_minutes: int = 30,
    exposure_budget_minutes: int = 300,
    reveal_window_seconds: int = 120,
) -> AssessmentPolicy:
    """Build a policy from plain settings values."""
    return AssessmentPolicy(
        scheme=load_scheme(scheme),
        confirmations_required=confirmations_required,
        claim_minutes=claim_minutes,
        exposure_budget_seconds=exposure_budget_minutes * 60,
        reveal_window_seconds=reveal_window_seconds,
    )


def policy_in_force(
    settings: AssessmentSettings, session: Session | None = None
) -> AssessmentPolicy:
    """The policy from settings, with administrators' runtime overrides when a session is given."""
    values = {
        "confirmations_required": settings.confirmations_required,
        "claim_minutes": settings.claim_minutes,
        "exposure_budget_minutes": settings.exposure_budget_minutes,
        "reveal_window_seconds": settings.reveal_window_seconds,
    }
    if session is not None:
        values.update(settings_service.overrides(session))
    return policy_from(scheme=settings.classification_scheme, **values)
