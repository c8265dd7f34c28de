"""Imports every domain's tables so metadata (and Alembic) sees the whole schema."""

from openhotline.db import Base
from openhotline.matching import models as matching_models
from openhotline.reporting import models as reporting_models

__all__ = ["Base", "matching_models", "reporting_models"]
