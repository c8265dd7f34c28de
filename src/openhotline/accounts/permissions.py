"""Permissions and the role → permission map.

Roles are data: a new role (e.g. `counsellor`, a partner role) is one more entry in
ROLE_PERMISSIONS, and a new capability one more Permission member; no code changes elsewhere.
Routes declare what they need with `openhotline.accounts.deps.require(Permission.X)`.
"""

from __future__ import annotations

from enum import StrEnum


class Permission(StrEnum):
    """One capability a route can require."""

    SESSION = "session"  # log out, see one's own account page
    CONSOLE_VIEW = "console.view"  # the console's home page
    QUEUE_VIEW = "queue.view"  # the triage queue
    CASE_VIEW = "case.view"  # case list and search, case details, its reports (text only)
    CASE_NOTE = "case.note"  # add a note to a case's timeline
    CASE_MANAGE = "case.manage"  # takedown actions: contact, police hold/clear, notices, removal
    HOSTS_MANAGE = "hosts.manage"  # add and edit hosting providers in the host directory
    JOBS_MANAGE = "jobs.manage"  # see failed and stuck background jobs; retry, cancel
    ITEM_ASSESS = "item.assess"  # claim, grade and confirm items
    ITEM_REVEAL = "item.reveal"  # reveal an unblurred preview (audited, budgeted)
    DISPUTE_RESOLVE = "dispute.resolve"  # decide items the analysts disagreed on
    EXPOSURE_VIEW_ALL = "exposure.view_all"  # every analyst's exposure budget use
    AUDIT_VIEW = "audit.view"  # read the audit log
    USERS_MANAGE = "users.manage"  # create users, change roles, unlock
    SETTINGS_MANAGE = "settings.manage"  # change runtime settings
    PARTNERS_MANAGE = "partners.manage"  # partner organisations and their API keys
    LISTS_PUBLISH = "lists.publish"  # publish a new URL/hash list version on demand
    APPEALS_REVIEW = "appeals.review"  # decide appeals against listed URLs
    EXPORTS_CREATE = "exports.create"  # police export packages, CyberTipline XML
    REFERRALS_SEND = "referrals.send"  # refer a case to a partner hotline
    STATS_VIEW = "stats.view"  # takedown statistics (time to notice, time to removal)
    BANKS_VIEW = "banks.view"  # hash banks: policy, source, size, last sync
    BANKS_MANAGE = "banks.manage"  # change a bank's policy (marking it trusted is audited)
    REPORTERS_ERASE = "reporters.erase"  # erase a reporter's e-mail address on request
    POLICE_QUEUE_VIEW = "police.queue.view"  # police referrals with their SLA clocks
    POLICE_DECIDE = "police.decide"  # acknowledge, clear or hold a police referral
    LEGAL_HOLD = "retention.hold"  # put cases and items under legal hold (no purge) or lift it
    HELPLINE_CONTACT_RECORD = "helpline.contact.record"  # record, escalate, see own contacts
    HELPLINE_HANDOFF = "helpline.handoff"  # turn a contact into a hotline report (consent)
    HELPLINE_CONTACT_VIEW_ALL = "helpline.contact.view_all"  # every counsellor's contacts
    HELPLINE_ESCALATION_DECIDE = "helpline.escalation.decide"  # safeguarding decisions
    HELPLINE_TRENDS_VIEW = "helpline.trends.view"  # suppressed trend tables and exports
    REMOVAL_VIEW = "removal.view"  # Report Remove: the queue of requests (no image)
    REMOVAL_CONFIRM = "removal.confirm"  # record that a child's age and identity were confirmed
    REMOVAL_VERIFY = "removal.verify"  # verify a request's image, share its hashes, reject
    VICTIMID_VIEW = "victimid.view"  # series, suggestions, alerts (blurred contact sheets)
    VICTIMID_MANAGE = "victimid.manage"  # create/merge series, accept suggestions, lists
    VICTIMID_CLUES = "victimid.clues"  # read and edit a series' notes and clues (encrypted)
    VICTIMID_EXPORT = "victimid.export"  # ICSE-style series packages: export, send, import
    HELPLINE_RESOURCES_MANAGE = "helpline.resources.manage"  # add, edit, retire resources
    HELPLINE_CASES = "helpline.cases"  # helpline cases: search, view, tasks, referrals, summary
    HELPLINE_CONVERSATIONS = "helpline.conversations"  # live inbox: pick up, reply, end


_ANALYST = frozenset(
    {
        Permission.SESSION,
        Permission.CONSOLE_VIEW,
        Permission.QUEUE_VIEW,
        Permission.CASE_VIEW,
        Permission.CASE_NOTE,
        Permission.ITEM_ASSESS,
        Permission.ITEM_REVEAL,
        Permission.REMOVAL_VIEW,
        Permission.REMOVAL_VERIFY,
    }
)

ROLE_PERMISSIONS: dict[str, frozenset[Permission]] = {
    "analyst": _ANALYST,
    "supervisor": _ANALYST
    | {
        Permission.DISPUTE_RESOLVE,
        Permission.EXPOSURE_VIEW_ALL,
        Permission.AUDIT_VIEW,
        Permission.LISTS_PUBLISH,
        Permission.APPEALS_REVIEW,
        Permission.EXPORTS_CREATE,
        Permission.REFERRALS_SEND,
        Permission.STATS_VIEW,
        Permission.CASE_MANAGE,
        Permission.HOSTS_MANAGE,
        Permission.JOBS_MANAGE,
        Permission.BANKS_VIEW,
        Permission.REPORTERS_ERASE,
        Permission.POLICE_QUEUE_VIEW,
        Permission.LEGAL_HOLD,
    },
    # Administrators run the system; they do not see media (least privilege).
    "admin": frozenset(
        {
            Permission.SESSION,
            Permission.CONSOLE_VIEW,
            Permission.USERS_MANAGE,
            Permission.SETTINGS_MANAGE,
            Permission.AUDIT_VIEW,
            Permission.EXPOSURE_VIEW_ALL,
            Permission.PARTNERS_MANAGE,
            Permission.LISTS_PUBLISH,
            Permission.JOBS_MANAGE,
            Permission.BANKS_VIEW,
            Permission.BANKS_MANAGE,
        }
    ),
    # Police liaison officers: the police queue and its decisions; no media, no grading.
    "police": frozenset(
        {
            Permission.SESSION,
            Permission.CONSOLE_VIEW,
            Permission.POLICE_QUEUE_VIEW,
            Permission.POLICE_DECIDE,
        }
    ),
    # Helplines: counsellors never see hotline cases or media; analysts never see contacts.
    "counsellor": frozenset(
        {
            Permission.SESSION,
            Permission.CONSOLE_VIEW,
            Permission.HELPLINE_CONTACT_RECORD,
            Permission.HELPLINE_HANDOFF,
            Permission.REMOVAL_VIEW,
            Permission.REMOVAL_CONFIRM,
            Permission.HELPLINE_CASES,
            Permission.HELPLINE_CONVERSATIONS,
        }
    ),
    "helpline_supervisor": frozenset(
        {
            Permission.SESSION,
            Permission.CONSOLE_VIEW,
            Permission.HELPLINE_CONTACT_RECORD,
            Permission.HELPLINE_HANDOFF,
            Permission.HELPLINE_CONTACT_VIEW_ALL,
            Permission.HELPLINE_ESCALATION_DECIDE,
            Permission.HELPLINE_TRENDS_VIEW,
            Permission.REMOVAL_VIEW,
            Permission.REMOVAL_CONFIRM,
            Permission.HELPLINE_RESOURCES_MANAGE,
            Permission.HELPLINE_CASES,
            Permission.HELPLINE_CONVERSATIONS,
        }
    ),
    # Victim identification: series of the same victim, place or production; the only role
    # that sees a series' notes and clues. It sees media only through budgeted reveals.
    "victim-identification": frozenset(
        {
            Permission.SESSION,
            Permission.CONSOLE_VIEW,
            Permission.VICTIMID_VIEW,
            Permission.VICTIMID_MANAGE,
            Permission.VICTIMID_CLUES,
            Permission.VICTIMID_EXPORT,
        }
    ),
}

# Roles whose holders grade material: they get an exposure budget and take part in four eyes.
GRADING_ROLES = frozenset(r for r, p in ROLE_PERMISSIONS.items() if Permission.ITEM_ASSESS in p)
# Roles whose holders may open media (graders, victim identification): each has an exposure
# budget that supervisors see.
MEDIA_VIEWING_ROLES = GRADING_ROLES | frozenset(
    r for r, p in ROLE_PERMISSIONS.items() if Permission.VICTIMID_VIEW in p
)

# Routes anyone may reach without a session (method, path template). Everything else must
# declare a permission (checked by tests/accounts/test_route_permissions.py).
PUBLIC_ROUTES: frozenset[tuple[str, str]] = frozenset(
    {
        ("GET", "/"),
        ("GET", "/report"),
        ("POST", "/report"),
        ("GET", "/report/thanks"),
        ("GET", "/report/status"),
        ("GET", "/appeal"),
        ("POST", "/appeal"),
        # Report Remove: a young person's upload and the status page of their receipt.
        ("GET", "/report-remove"),
        ("POST", "/report-remove"),
        ("GET", "/report-remove/status"),
        ("POST", "/report-remove/status"),
        ("POST", "/api/v1/reports"),
        ("GET", "/api/v1/reports/{receipt}"),
        ("GET", "/api/v1/openapi.json"),
        ("GET", "/api/docs"),
        ("HEAD", "/api/v1/openapi.json"),
        # The login form itself (it carries its own pre-session CSRF token).
        ("GET", "/console/login"),
        ("POST", "/console/login"),
        # A host confirming removal from a notice: authenticated by the link's HMAC signature.
        ("GET", "/api/v1/notices/{notice_id}/confirm"),
        # Prometheus scrapes without a session: served only to metrics_allow_networks.
        ("GET", "/metrics"),
        # Host accountability (opt-in, stats_host_page_enabled): suppressed published figures.
        ("GET", "/transparency/hosts"),
        ("GET", "/transparency/hosts.csv"),
        # Helpline channels: provider webhooks (authenticated by X-Twilio-Signature) and the
        # anonymous web chat pages (a random token in the URL is the only handle).
        ("POST", "/helpline/webhooks/sms"),
        ("POST", "/helpline/webhooks/whatsapp"),
        ("POST", "/helpline/webhooks/voice"),
        ("POST", "/helpline/webhooks/voice/status"),
        ("GET", "/helpline/chat/{mode}"),
        ("POST", "/helpline/chat/{mode}"),
        ("GET", "/helpline/chat/c/{token}"),
        ("POST", "/helpline/chat/c/{token}"),
        ("GET", "/helpline/chat/c/{token}/messages"),
    }
)


def roles() -> list[str]:
    """Return the known role names."""
    return sorted(ROLE_PERMISSIONS)


def roles_least_privileged_first() -> list[str]:
    """Role names from the fewest permissions to the most (forms default to the first)."""
    return sorted(ROLE_PERMISSIONS, key=lambda r: (len(ROLE_PERMISSIONS[r]), r))


def permissions_of(role: str) -> frozenset[Permission]:
    """Return the permissions of a role (none for an unknown role)."""
    return ROLE_PERMISSIONS.get(role, frozenset())


def has_permission(role: str, permission: Permission) -> bool:
    """True when the role grants the permission."""
    return permission in permissions_of(role)
