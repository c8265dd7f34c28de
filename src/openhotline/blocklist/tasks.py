"""Background job: rebuild the lists (schedule every `list_publish_interval_hours`)."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from openhotline.blocklist.service import excluded_countries, publish_lists
from openhotline.config import Settings
from openhotline.db import transaction


def rebuild_lists(factory: sessionmaker[Session], settings: Settings) -> dict[str, int]:
    """Publish new versions where the lists changed; return each list's current version."""
    with transaction(factory) as session:
        versions = publish_lists(
            session, exclude_countries=excluded_countries(settings), actor="scheduler"
        )
        return {kind.value: v.version for kind, v in versions.items()}
