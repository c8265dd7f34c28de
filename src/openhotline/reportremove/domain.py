"""The Report Remove domain: a young person's own image, hashed and shared, then deleted."""

from openhotline.domains import Domain

DOMAIN = Domain(
    "reportremove",
    models=("openhotline.reportremove.models",),
    routers=(
        "openhotline.reportremove.views:router",
        "openhotline.reportremove.console_views:router",
    ),
    cli=(("report-remove", "openhotline.reportremove.cli:report_remove_app"),),
    handlers={"reportremove.purge": "openhotline.reportremove.tasks:purge_job"},
    tick_hooks=("openhotline.reportremove.tasks:enqueue_daily_purge",),
)
