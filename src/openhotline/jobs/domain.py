"""The jobs domain: the durable job table under the Huey queue."""

from openhotline.domains import Domain

DOMAIN = Domain("jobs", models=("openhotline.jobs.models",))
