"""The store: integration state, runs and audit rows in SQLite (default) or PostgreSQL.

Open it with :meth:`Store.open`; the schema is upgraded automatically. Everything it returns is
a plain dataclass.
"""

from learnsync.store.records import (
    ContentItemState,
    CourseCompletions,
    IntegrationRecord,
    RunItem,
    RunRecord,
    StatItemState,
    StatSummary,
)
from learnsync.store.repository import Store

__all__ = [
    "ContentItemState",
    "CourseCompletions",
    "IntegrationRecord",
    "RunItem",
    "RunRecord",
    "StatItemState",
    "StatSummary",
    "Store",
]
