"""The apidocs domain: the interactive API documentation at /api/docs, in every deployment."""

from openhotline.domains import Domain

DOMAIN = Domain("apidocs", routers=("openhotline.apidocs.views:router",))
