"""What a 360Learning bulk pipeline hands back: one result per item, or a failed batch.

``ThreeSixtyTarget.run_batches`` (:mod:`learnsync.model.ports`) yields :class:`BulkResult` lists
and raises :class:`BatchFailed`; the loaders (:mod:`learnsync.load`) turn both into per-item
outcomes without knowing the client.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from learnsync.errors import BulkOperationError


@dataclass(frozen=True, slots=True)
class BulkResult:
    """The outcome of one item of a bulk request (``input``: the item as 360Learning echoed it)."""

    input: dict[str, Any]
    ok: bool
    resource_id: str | None = None
    error: str | None = None


class BatchFailed(BulkOperationError):
    """A bulk operation ended in ``error``: ``batch`` was not applied.

    ``in_flight`` holds the batches submitted after it whose outcome was not awaited — treat them
    as not applied too (re-sending them is safe: upserts, archives and statistics are keyed).
    Batches that ``run_batches`` yielded before this error were applied.
    """

    def __init__(
        self,
        message: str,
        *,
        batch: list[dict[str, Any]],
        in_flight: list[list[dict[str, Any]]],
        operation: dict[str, Any],
        operation_url: str,
    ) -> None:
        super().__init__(
            message, status=200, code="bulkOperationError", body=operation, api="360Learning"
        )
        self.batch = batch
        self.in_flight = in_flight
        self.operation = operation
        self.operation_url = operation_url
