"""The exports domain: signed police packages, NCMEC CyberTipline XML."""

from openhotline.domains import Domain

DOMAIN = Domain(
    "exports",
    module="hotline",
    routers=("openhotline.exports.api:router",),
    cli=(("export", "openhotline.exports.cli:export_app"),),
)
