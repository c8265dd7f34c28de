"""The helpline domain: confidential contacts, escalations, retention, trends."""

from openhotline.domains import Domain

DOMAIN = Domain(
    "helpline",
    module="helpline",
    models=(
        "openhotline.helpline.models",
        "openhotline.helpline.resource_models",
        "openhotline.helpline.case_models",
    ),
    routers=(
        "openhotline.helpline.api:router",
        "openhotline.helpline.case_api:router",
        "openhotline.helpline.channel_api:router",
        "openhotline.helpline.chat_views:router",
    ),
    cli=(("helpline", "openhotline.helpline.cli:helpline_app"),),
    handlers={"helpline.anonymise": "openhotline.helpline.tasks:anonymise_job"},
    tick_hooks=("openhotline.helpline.tasks:enqueue_daily_anonymise",),
)
