"""Run one kind of bulk write over many items and return one outcome per item.

Chunks the items to the API's limit, keeps at most three operations in flight (the client's
``run_batches``), and turns every way a batch can fail into per-item failures — an item is never
lost: it either succeeded, or it carries an error and is retried by the next run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from learnsync.errors import ApiError, AuthError, ConfigError
from learnsync.model.ports import BulkKind, ThreeSixtyTarget

# 360Learning's per-request limits (docs/api-notes.md#bulk-operations)
UPSERT_LIMIT = 10_000
ARCHIVE_LIMIT = 1_000
STATS_LIMIT = 10_000


@dataclass(frozen=True, slots=True)
class Outcome:
    key: str
    ok: bool
    resource_id: str | None = None
    error: str | None = None


def run_bulk(
    client: ThreeSixtyTarget,
    kind: BulkKind,
    integration_id: str,
    items: Sequence[dict[str, Any]],
    *,
    size: int,
    key: Callable[[dict[str, Any]], str],
    on_batch: Callable[[int], None] | None = None,
    into: dict[str, Outcome] | None = None,
) -> dict[str, Outcome]:
    """Send ``items`` with bulk ``kind``; return ``{key(item): Outcome}`` for every item.

    ``into`` (optional) is filled as batches complete, so a caller still holds the outcomes of the
    batches that were applied when an authorization error stops the run half-way.
    """
    outcomes: dict[str, Outcome] = {} if into is None else into
    batches = [list(items[i : i + size]) for i in range(0, len(items), size)]
    if not batches:
        return outcomes
    done = 0
    try:
        for batch, results in client.run_batches(kind, integration_id, batches):
            for position, item in enumerate(batch):
                result = results[position] if position < len(results) else None
                item_key = key(item)
                if result is None:
                    outcomes[item_key] = Outcome(item_key, False, error="no result returned")
                elif result.ok:
                    outcomes[item_key] = Outcome(item_key, True, resource_id=result.resource_id)
                else:
                    outcomes[item_key] = Outcome(item_key, False, error=result.error or "rejected")
            done += 1
            if on_batch is not None:
                on_batch(len(batch))
    except (AuthError, ConfigError):
        raise
    except ApiError as exc:
        # the failed batch and every batch not yet confirmed: retried by the next run
        for batch in batches[done:]:
            for item in batch:
                item_key = key(item)
                if item_key not in outcomes:
                    outcomes[item_key] = Outcome(item_key, False, error=exc.message)
    return outcomes
