"""The assessment domain: schemes, queue and claims, four eyes, exposure budgets."""

from openhotline.domains import Domain

DOMAIN = Domain(
    "assessment",
    models=("openhotline.assessment.models",),
    module_routers=(("hotline", "openhotline.assessment.api:router"),),
    cli=((None, "openhotline.assessment.cli:register"),),
)
