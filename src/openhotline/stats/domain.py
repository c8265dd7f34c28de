"""The stats domain: the figures hotlines publish and networks collect (supervisors)."""

from openhotline.domains import Domain

DOMAIN = Domain(
    "stats",
    module="hotline",
    routers=("openhotline.stats.api:router", "openhotline.stats.views:router"),
    # Operations need /metrics wherever the platform runs, hotline or helpline.
    module_routers=(("core", "openhotline.stats.metrics_api:router"),),
    cli=(("stats", "openhotline.stats.cli:stats_app"),),
)
