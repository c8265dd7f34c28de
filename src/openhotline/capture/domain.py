"""The capture domain: the safe crawler and what it stores."""

from openhotline.domains import Domain

DOMAIN = Domain(
    "capture",
    module="hotline",
    models=("openhotline.capture.models",),
    routers=("openhotline.capture.api:router",),
    handlers={
        "capture.case": "openhotline.capture.tasks:capture_case",
        "capture.render": "openhotline.capture.render_tasks:render_case",
    },
    tick_hooks=("openhotline.capture.tasks:enqueue_new_cases",),
)
