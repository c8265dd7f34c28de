"""The trace domain: DNS, GeoIP/ASN, RDAP abuse contacts, CDN awareness."""

from openhotline.domains import Domain

DOMAIN = Domain("trace", module="hotline", models=("openhotline.trace.models",))
