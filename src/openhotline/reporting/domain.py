"""The reporting domain: public and partner reports, receipts, the report form."""

from openhotline.domains import Domain

DOMAIN = Domain(
    "reporting",
    module="hotline",
    models=("openhotline.reporting.models",),
    routers=("openhotline.reporting.api:router", "openhotline.reporting.views:router"),
    cli=(("reporters", "openhotline.reporting.cli:reporters_app"),),
    handlers={"reporting.feedback": "openhotline.reporting.tasks:send_feedback"},
    tick_hooks=("openhotline.reporting.tasks:enqueue_feedback",),
)
