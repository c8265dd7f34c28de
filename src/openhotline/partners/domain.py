"""The partners domain: partner organisations and scoped API keys."""

from openhotline.domains import Domain

DOMAIN = Domain(
    "partners",
    module="hotline",
    models=("openhotline.partners.models",),
    routers=("openhotline.partners.api:router",),
    cli=(("partner", "openhotline.partners.cli:partner_app"),),
)
