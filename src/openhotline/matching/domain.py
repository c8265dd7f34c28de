"""The matching domain: hash banks, import/export, subscriptions, the PDQ index, /hash, /match."""

from openhotline.domains import Domain

DOMAIN = Domain(
    "matching",
    module="hotline",
    models=("openhotline.matching.models",),
    routers=("openhotline.matching.api:router", "openhotline.matching.video_api:router"),
    cli=((None, "openhotline.matching.cli:register"),),
    handlers={
        "bank.sync": "openhotline.matching.tasks:sync_job",
        "bank.exchange_sync": "openhotline.matching.tasks:exchange_sync_job",
        "bank.features": "openhotline.matching.tasks:item_features_job",
    },
    tick_hooks=("openhotline.matching.tasks:enqueue_due_syncs",),
)
