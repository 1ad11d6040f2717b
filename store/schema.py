"""Imports every module that defines models, so Base.metadata is complete (Alembic, tests)."""
from store import models  # noqa: F401
from store import alerts  # noqa: F401
from store import meetings  # noqa: F401
from store import requests  # noqa: F401
from store import teams  # noqa: F401
