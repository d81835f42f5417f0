"""Import every package's models so one ``Base.metadata`` knows all tables."""

from alerts import models as alerts_models  # noqa: F401
from ingest import models as ingest_models  # noqa: F401
from keywatch.db import Base
from registry import models as registry_models  # noqa: F401

metadata = Base.metadata
