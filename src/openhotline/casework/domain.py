"""The casework domain: the workbench's services over every hotline domain."""

from openhotline.domains import Domain

DOMAIN = Domain(
    "casework",
    module="hotline",
    models=("openhotline.casework.models",),
    cli=((None, "openhotline.casework.cli:register"),),
)
