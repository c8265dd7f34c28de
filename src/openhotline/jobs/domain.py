"""The jobs domain: the durable job table under the Huey queue."""

from openhotline.domains import Domain

DOMAIN = Domain(
    "jobs",
    models=("openhotline.jobs.models",),
    cli=(("jobs", "openhotline.jobs.cli:jobs_app"),),
    tick_hooks=("openhotline.jobs.tasks:heartbeat",),
)
