"""The audit domain: the hash-chained audit log."""

from openhotline.domains import Domain

DOMAIN = Domain(
    "audit",
    models=("openhotline.audit.models",),
    cli=(("audit", "openhotline.audit.cli:audit_app"),),
)
