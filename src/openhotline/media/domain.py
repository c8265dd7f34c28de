"""The media domain: items, the encrypted store, hashing, previews."""

from openhotline.domains import Domain

DOMAIN = Domain(
    "media",
    module="hotline",
    models=("openhotline.media.models",),
    routers=("openhotline.media.api:router",),
)
