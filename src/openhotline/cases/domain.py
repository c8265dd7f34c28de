"""The cases domain: one canonical URL under work, and its lifecycle."""

from openhotline.domains import Domain

DOMAIN = Domain(
    "cases",
    models=("openhotline.cases.models",),
    cli=(("case", "openhotline.cases.cli:case_app"),),
)
