"""The police domain: the channel through which police receive and decide referrals."""

from openhotline.domains import Domain

DOMAIN = Domain(
    "police",
    module="hotline",
    models=("openhotline.police.models",),
    routers=("openhotline.police.api:router",),
    cli=(("police", "openhotline.police.cli:police_app"),),
    handlers={
        "police.auto_release": "openhotline.police.tasks:auto_release_job",
        "police.ncmec_open": "openhotline.police.tasks:ncmec_open_job",
        "police.ncmec_upload": "openhotline.police.tasks:ncmec_upload_job",
        "police.ncmec_fileinfo": "openhotline.police.tasks:ncmec_fileinfo_job",
        "police.ncmec_finish": "openhotline.police.tasks:ncmec_finish_job",
        "police.ncmec_retract": "openhotline.police.tasks:ncmec_retract_job",
    },
    tick_hooks=(
        "openhotline.police.tasks:enqueue_auto_release",
        "openhotline.police.tasks:enqueue_ncmec",
    ),
)
