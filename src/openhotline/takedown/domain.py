"""The takedown domain: routing, notices, re-checks and removal."""

from openhotline.domains import Domain

DOMAIN = Domain(
    "takedown",
    module="hotline",
    models=("openhotline.takedown.models",),
    routers=("openhotline.takedown.api:router",),
    cli=(("takedown", "openhotline.takedown.cli:takedown_app"),),
    handlers={
        "takedown.route": "openhotline.takedown.tasks:route_case",
        "takedown.send_notices": "openhotline.takedown.tasks:send_notices",
        "takedown.recheck": "openhotline.takedown.tasks:recheck_case",
    },
    tick_hooks=("openhotline.takedown.tasks:enqueue_takedown_work",),
)
