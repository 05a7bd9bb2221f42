"""The store: integration state, runs and audit rows in SQLite (default) or PostgreSQL.

Open it with :meth:`Store.open`; the schema is upgraded automatically. Everything it returns is
a plain dataclass.
"""

from learnsync.store.records import (
    ContentItemState,
    IntegrationRecord,
    RunItem,
    RunRecord,
    StatItemState,
)
from learnsync.store.repository import Store

__all__ = [
    "ContentItemState",
    "IntegrationRecord",
    "RunItem",
    "RunRecord",
    "StatItemState",
    "Store",
]
