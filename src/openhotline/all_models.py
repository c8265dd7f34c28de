"""Imports every domain's tables so metadata (and Alembic) sees the whole schema."""

from openhotline.db import Base
from openhotline.reporting import models as reporting_models

__all__ = ["Base", "reporting_models"]
