"""The console: staff HTML pages over every domain's services."""

from openhotline.domains import Domain

DOMAIN = Domain(
    "console",
    routers=(
        "openhotline.console.accounts_views:router",
        "openhotline.console.views:router",
        "openhotline.console.media_views:router",
        "openhotline.console.supervisor_views:router",
        "openhotline.console.admin_views:router",
        "openhotline.console.jobs_views:router",
    ),
    module_routers=(
        ("hotline", "openhotline.console.casework_views:router"),
        ("hotline", "openhotline.console.partners_views:router"),
        ("hotline", "openhotline.console.appeals_views:router"),
        ("hotline", "openhotline.console.workbench_views:router"),
        ("hotline", "openhotline.console.banks_views:router"),
        ("hotline", "openhotline.console.stats_views:router"),
        ("hotline", "openhotline.console.police_views:router"),
        ("hotline", "openhotline.console.victimid_views:router"),
        ("hotline", "openhotline.console.reporters_views:router"),
        ("hotline", "openhotline.console.holds_views:router"),
        ("helpline", "openhotline.console.helpline_views:router"),
        ("helpline", "openhotline.console.helpline_resource_views:router"),
        ("helpline", "openhotline.console.helpline_case_views:router"),
    ),
)
