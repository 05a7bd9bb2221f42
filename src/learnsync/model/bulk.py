"""What a 360Learning bulk pipeline hands back: one result per item, or a failed batch.

``ThreeSixtyTarget.run_batches`` (:mod:`learnsync.model.ports`) yields :class:`BulkResult` lists
and raises :class:`BatchFailed` (one batch failed alone: the pipeline can go on) or
:class:`BulkStopped` (the bulk API refused to go on); the loaders (:mod:`learnsync.load`) turn
them into per-item outcomes without knowing the client (docs/waiting.md#when-a-batch-fails).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from learnsync.errors import ApiError, BulkOperationError
from learnsync.model.untrusted import (
    MAX_ERROR_LENGTH,
    MAX_REMOTE_ID_LENGTH,
    clean_line,
    truncate,
)


@dataclass(frozen=True, slots=True)
class BulkResult:
    """The outcome of one item of a bulk request (``input``: the item as 360Learning echoed it).

    360Learning's text is untrusted (docs/security.md#untrusted-text): ``error`` is cleaned
    (control characters removed, lone surrogates replaced) and cut to 1,000 characters;
    ``resource_id`` is cleaned and, blank or longer than 64 characters (360Learning's ids have
    24), ``None``."""

    input: dict[str, Any]
    ok: bool
    resource_id: str | None = None
    error: str | None = None
    operation_failed: bool = False  # not rejected alone: its whole operation ended in error

    def __post_init__(self) -> None:
        if self.error is not None:
            error = truncate(clean_line(str(self.error)), MAX_ERROR_LENGTH)
            object.__setattr__(self, "error", error)
        if self.resource_id is not None:
            rid = clean_line(str(self.resource_id)).strip()
            ok = 0 < len(rid) <= MAX_REMOTE_ID_LENGTH
            object.__setattr__(self, "resource_id", rid if ok else None)


class BatchFailed(BulkOperationError):
    """One batch failed alone: its bulk operation ended in ``error`` (or its submit got no
    answer, ``operation`` then ``{}``): ``batch`` was not applied (or may not have been).

    ``in_flight`` holds the batches submitted after it whose outcome was not awaited yet.
    ``resume``, when the client gives one, goes on where the pipeline stopped: it yields those
    batches' results as their operations end, then sends the remaining batches — so a failed
    operation fails its own batch only. Without ``resume``, treat ``in_flight`` as not applied
    (re-sending them is safe: upserts, archives and statistics are keyed). Batches that
    ``run_batches`` yielded before this error were applied.
    """

    def __init__(
        self,
        message: str,
        *,
        batch: list[dict[str, Any]],
        in_flight: list[list[dict[str, Any]]],
        operation: dict[str, Any],
        operation_url: str,
        resume: Iterator[tuple[list[dict[str, Any]], list[BulkResult]]] | None = None,
    ) -> None:
        super().__init__(
            message, status=200, code="bulkOperationError", body=operation, api="360Learning"
        )
        self.batch = batch
        self.in_flight = in_flight
        self.operation = operation
        self.operation_url = operation_url
        self.resume = resume


class BulkStopped(ApiError):
    """The bulk pipeline stopped: 360Learning refused to take more (the bulk API disabled, the
    three bulk slots held past their budget, rate limited past the budget) or an operation could
    not be followed (polling failed or ran out of its budget).

    ``unknown``: batches submitted whose outcome is unknown (report them failed: the next run
    sends them again); ``not_sent``: the batch 360Learning refused (it was not applied). The
    batches ``run_batches`` had not taken yet were not sent either. Status, code and body are
    those of the refusal.
    """

    def __init__(
        self,
        cause: ApiError,
        *,
        unknown: list[list[dict[str, Any]]],
        not_sent: list[list[dict[str, Any]]],
    ) -> None:
        super().__init__(
            cause.message, status=cause.status, code=cause.code, body=cause.body, api=cause.api
        )
        self.cause = cause
        self.unknown = unknown
        self.not_sent = not_sent
