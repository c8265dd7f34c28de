"""The police domain: the channel through which police receive and decide referrals."""

from openhotline.domains import Domain

DOMAIN = Domain(
    "police",
    module="hotline",
    models=("openhotline.police.models",),
    routers=("openhotline.police.api:router",),
    cli=(("police", "openhotline.police.cli:police_app"),),
    handlers={"police.auto_release": "openhotline.police.tasks:auto_release_job"},
    tick_hooks=("openhotline.police.tasks:enqueue_auto_release",),
)
