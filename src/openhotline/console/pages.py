"""Rendering helpers shared by the console's HTML routes."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session, sessionmaker

from openhotline.accounts.deps import Principal
from openhotline.accounts.permissions import Permission
from openhotline.assessment.policy import AssessmentPolicy, policy_in_force
from openhotline.assessment.service import Actor
from openhotline.config import Settings
from openhotline.web.templating import templates

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}

# Flash messages travel as fixed codes in ?msg=, never as free text (no injected wording).
MESSAGES = {
    "claimed": "Item claimed. It is yours until you grade or release it.",
    "released": "Item released back to the queue.",
    "graded": "Grade saved.",
    "confirming": "Grade saved. Another analyst must confirm it before it counts.",
    "decided": "Grade saved. The item is decided.",
    "admitted": "Confirmed: the item's hashes entered the confirmed hash bank.",
    "url_confirming": "URL decision saved. Another analyst must confirm it before it counts.",
    "url_decided": "URL decision saved. The case is decided.",
    "evidence_added": "Evidence file added to the case: hashed, encrypted and queued for grading.",
    "recapture_queued": "Rendered capture queued: the worker renders the page in Chromium.",
    "evidence_known": "Evidence file added: it matches the confirmed hash bank (not shown).",
    "disputed": "Your grade differs from an earlier one: a supervisor will decide.",
    "known": "That item matched the confirmed hash bank and was assessed automatically.",
    "resolved": "Dispute resolved.",
    "hidden": "Preview hidden.",
    "user_created": "User created.",
    "user_updated": "User updated.",
    "setting_saved": "Setting saved.",
    "bank_updated": "Bank policy saved.",
    "contact_recorded": "Contact recorded.",
    "contact_escalated": "Contact recorded. Escalated to a supervisor.",
    "escalated": "Escalated to a supervisor.",
    "handed_off": "Hotline report made.",
    "escalation_decided": "Decision recorded.",
    "resource_saved": "Resource saved.",
    "resource_retired": "Resource retired: no longer offered; its counts stay.",
    "picked_up": "Conversation picked up: you are talking to the caller.",
    "reply_sent": "Reply sent.",
    "reply_failed": "Reply saved but NOT delivered: the provider refused it. Try again.",
    "conversation_ended": "Conversation ended and recorded as a contact of the case.",
    "case_updated": "Case updated.",
    "task_added": "Task added.",
    "task_done": "Task done.",
    "referral_added": "Referral recorded.",
    "referral_updated": "Referral outcome recorded.",
    "case_linked": "Contact added to the case.",
    "case_closed": "Case closed.",
    "appeal_decided": "Appeal decided.",
    "note_added": "Note added.",
    "contact_set": "Abuse contact set: the notice goes to the new address.",
    "police_held": "Notices held until police clear them.",
    "police_cleared": "Police cleared the case: held notices go out on the next run.",
    "notice_changed": "Notice updated.",
    "police_acknowledged": "Referral acknowledged.",
    "police_referral_cleared": "Cleared: held notices go to the host on the next run.",
    "police_referral_held": "Held: notices wait and the case is under legal hold.",
    "removed": "Marked removed.",
    "not_removed": "Marked not removed: queued notices are re-sent.",
    "host_saved": "Host saved.",
    "host_picked": "Host picked for the case.",
    "job_retried": "Job queued again.",
    "job_cancelled": "Job cancelled.",
    "password_reset": "Password set. The user's sessions ended.",
}


def flash_text(msg: str) -> str:
    """Return the flash message for a ?msg= code ('' for anything else)."""
    return MESSAGES.get(msg, "")


def render(
    request: Request,
    name: str,
    principal: Principal | None,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    """Render a console template with the user, their CSRF token and permissions."""
    context.setdefault("error", "")
    return templates.TemplateResponse(
        request,
        name,
        {
            "principal": principal,
            "csrf_token": principal.csrf_token if principal else context.pop("csrf_token", ""),
            "P": Permission,
            "flash": flash_text(request.query_params.get("msg", "")),
            **context,
        },
        status_code=status,
        headers=NO_STORE,
    )


def actor_of(principal: Principal) -> Actor:
    """Return the assessment actor for a logged-in user."""
    return Actor(principal.user_id, principal.actor)


def load_policy(db: sessionmaker[Session], settings: Settings) -> AssessmentPolicy:
    """Return the assessment policy in force, reading the runtime overrides."""
    with db() as session:
        return policy_in_force(settings, session)
