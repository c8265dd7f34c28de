"""The blocklist domain: signed, versioned URL and hash lists with deltas; appeals."""

from openhotline.domains import Domain

DOMAIN = Domain(
    "blocklist",
    module="hotline",
    models=("openhotline.blocklist.models",),
    routers=("openhotline.blocklist.api:router", "openhotline.blocklist.views:router"),
    cli=(("lists", "openhotline.blocklist.cli:lists_app"),),
    handlers={
        "lists.publish": "openhotline.blocklist.tasks:publish_job",
        "appeals.reply": "openhotline.blocklist.tasks:send_appeal_reply",
    },
    tick_hooks=("openhotline.blocklist.tasks:enqueue_list_publish",),
)
