"""Tick hooks of the jobs domain: the worker's heartbeat."""

from __future__ import annotations

from typing import TYPE_CHECKING

from openhotline.db import transaction
from openhotline.jobs import service

if TYPE_CHECKING:
    from openhotline.bootstrap import Services


def heartbeat(services: Services) -> None:
    """Record that this worker ticked (the dashboard warns when no worker has been seen)."""
    with transaction(services.sessionmaker) as session:
        service.beat(session)
