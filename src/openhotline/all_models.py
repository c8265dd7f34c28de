"""Imports every domain's tables so metadata (and Alembic) sees the whole schema."""

from openhotline.accounts import models as accounts_models
from openhotline.assessment import models as assessment_models
from openhotline.audit import models as audit_models
from openhotline.blocklist import models as blocklist_models
from openhotline.cases import models as cases_models
from openhotline.db import Base
from openhotline.federation import models as federation_models
from openhotline.helpline import models as helpline_models
from openhotline.jobs import models as jobs_models
from openhotline.matching import models as matching_models
from openhotline.media import models as media_models
from openhotline.partners import models as partners_models
from openhotline.reporting import models as reporting_models
from openhotline.takedown import models as takedown_models
from openhotline.trace import models as trace_models

__all__ = [
    "Base",
    "accounts_models",
    "assessment_models",
    "audit_models",
    "blocklist_models",
    "cases_models",
    "federation_models",
    "helpline_models",
    "jobs_models",
    "matching_models",
    "media_models",
    "partners_models",
    "reporting_models",
    "takedown_models",
    "trace_models",
]
