"""The retention domain: retention policies per entity, legal holds and the purge job."""

from openhotline.domains import Domain

DOMAIN = Domain(
    "retention",
    module="hotline",
    cli=(("retention", "openhotline.retention.cli:retention_app"),),
    handlers={"retention.purge": "openhotline.retention.tasks:purge_job"},
    tick_hooks=("openhotline.retention.tasks:enqueue_purge",),
)
