"""The matching domain: hash banks, import/export, the PDQ index, /hash and /match."""

from openhotline.domains import Domain

DOMAIN = Domain(
    "matching",
    module="hotline",
    models=("openhotline.matching.models",),
    routers=("openhotline.matching.api:router",),
    cli=((None, "openhotline.matching.cli:register"),),
)
