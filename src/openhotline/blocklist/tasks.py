"""Background job: rebuild the lists (schedule every `list_publish_interval_hours`)."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from openhotline.blocklist.service import publish_lists
from openhotline.db import transaction


def rebuild_lists(factory: sessionmaker[Session]) -> dict[str, int]:
    """Publish new versions where the lists changed; return each list's current version."""
    with transaction(factory) as session:
        versions = publish_lists(session, actor="scheduler")
        return {kind.value: v.version for kind, v in versions.items()}
