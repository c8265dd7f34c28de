"""Imports every domain's tables so metadata (and Alembic) sees the whole schema."""

from openhotline.db import Base
from openhotline.media import models as media_models
from openhotline.reporting import models as reporting_models

__all__ = ["Base", "media_models", "reporting_models"]
