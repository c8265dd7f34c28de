"""The signing domain: the hotline's Ed25519 key."""

from openhotline.domains import Domain

DOMAIN = Domain(
    "signing",
    cli=(
        ("keys", "openhotline.signing.cli:keys_app"),
        ("verify-list", "openhotline.signing.cli:verify_list_command"),
    ),
)
