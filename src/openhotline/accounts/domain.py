"""The accounts domain: staff users, roles, TOTP, sessions (pages live in console/)."""

from openhotline.domains import Domain

DOMAIN = Domain(
    "accounts",
    models=("openhotline.accounts.models",),
    cli=(("user", "openhotline.accounts.cli:user_app"),),
)
