"""The assessment domain: schemes, queue and claims, four eyes, exposure budgets."""

from openhotline.domains import Domain

DOMAIN = Domain(
    "assessment",
    models=("openhotline.assessment.models",),
    cli=((None, "openhotline.assessment.cli:register"),),
)
