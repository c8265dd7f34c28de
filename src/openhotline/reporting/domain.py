"""The reporting domain: public and partner reports, receipts, the report form."""

from openhotline.domains import Domain

DOMAIN = Domain(
    "reporting",
    module="hotline",
    models=("openhotline.reporting.models",),
    routers=("openhotline.reporting.api:router", "openhotline.reporting.views:router"),
)
