"""The federation domain: hotline-to-hotline referrals."""

from openhotline.domains import Domain

DOMAIN = Domain(
    "federation",
    module="hotline",
    models=("openhotline.federation.models",),
    routers=("openhotline.federation.api:router",),
    handlers={"federation.run": "openhotline.federation.tasks:federation_job"},
    tick_hooks=("openhotline.federation.tasks:enqueue_federation",),
)
