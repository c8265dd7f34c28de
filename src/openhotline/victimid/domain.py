"""Victim identification: series, suggestions, known-series lists, alerts, ICSE packages."""

from openhotline.domains import Domain

DOMAIN = Domain(
    "victimid",
    module="hotline",
    models=("openhotline.victimid.models",),
    routers=("openhotline.victimid.api:router",),
    cli=(("victimid", "openhotline.victimid.cli:app"),),
    tick_hooks=("openhotline.victimid.tasks:scan_new_material",),
)
