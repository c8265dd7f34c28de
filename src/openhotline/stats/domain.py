"""The stats domain: the figures hotlines publish and networks collect (supervisors)."""

from openhotline.domains import Domain

DOMAIN = Domain(
    "stats",
    module="hotline",
    routers=("openhotline.stats.api:router",),
    cli=(("stats", "openhotline.stats.cli:stats_app"),),
)
