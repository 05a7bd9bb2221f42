"""Run one kind of bulk write over many items and return one outcome per item.

The one rule both loaders follow (content: :mod:`learnsync.load.content`, statistics:
:mod:`learnsync.load.stats`; docs/waiting.md#when-a-batch-fails), built on the client's
``run_batches`` (≤ 3 operations in flight):

- a batch whose bulk operation ends in ``error`` (or whose submit got no answer) fails alone:
  its items carry the error; the batches in flight behind it are awaited and the next batches
  are sent;
- when 360Learning refuses to go on (:class:`~learnsync.model.bulk.BulkStopped`: the bulk API
  disabled, the bulk slots or the rate limit past their budget, an operation that could not be
  followed), the batches submitted whose outcome is unknown fail, and the stream stops: the
  batches never sent get **no** outcome (they are not failed: the next run sends them), and
  :attr:`BulkStream.error` says why;
- authentication and configuration errors propagate.

An item is never lost: it succeeded, or it carries an error, or it was not sent — and the next
run sends the last two again.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from learnsync.errors import ApiError, AuthError, ConfigError
from learnsync.model.bulk import BatchFailed, BulkResult, BulkStopped
from learnsync.model.ports import BatchResults, BulkKind, ThreeSixtyTarget

# 360Learning's per-request limits (docs/api-notes.md#bulk-operations)
UPSERT_LIMIT = 10_000
ARCHIVE_LIMIT = 1_000
STATS_LIMIT = 10_000

B = TypeVar("B")


@dataclass(frozen=True, slots=True)
class Outcome:
    key: str
    ok: bool
    resource_id: str | None = None
    error: str | None = None
    operation_failed: bool = False  # its bulk operation failed as a whole (docs/contract.md)


def failed_results(
    payloads: list[dict[str, Any]], message: str, *, operation_failed: bool = False
) -> list[BulkResult]:
    return [
        BulkResult(item, False, error=message, operation_failed=operation_failed)
        for item in payloads
    ]


class BulkStream(Generic[B]):
    """Iterate ``(batch, results)`` — one result per payload — for every batch that was sent.

    ``payloads(batch)`` gives what to send for a caller's batch (its own type ``B``). After the
    iteration, ``error`` is set when the stream stopped early; ``not_sent`` counts the batches
    the client had taken but 360Learning never accepted (the ones never taken are not counted:
    the caller knows its total)."""

    def __init__(
        self,
        client: ThreeSixtyTarget,
        kind: BulkKind,
        integration_id: str,
        batches: Iterable[B],
        payloads: Callable[[B], list[dict[str, Any]]],
    ) -> None:
        self.client = client
        self.kind: BulkKind = kind
        self.integration_id = integration_id
        self.batches = batches
        self.payloads = payloads
        self.error: ApiError | None = None
        self.not_sent = 0

    def __iter__(self) -> Iterator[tuple[B, list[BulkResult]]]:
        source = iter(self.batches)
        pending: deque[B] = deque()  # handed to the client, outcome not yet known
        carry: list[B] = []  # to hand to a fresh pipeline (a client that cannot resume)

        def feed() -> Iterator[list[dict[str, Any]]]:
            while carry:
                batch = carry.pop(0)
                pending.append(batch)
                yield self.payloads(batch)
            for batch in source:
                pending.append(batch)
                yield self.payloads(batch)

        stream: Iterator[BatchResults] = iter(
            self.client.run_batches(self.kind, self.integration_id, feed())
        )
        while True:
            try:
                for _payloads, results in stream:
                    yield pending.popleft(), results
                return
            except (AuthError, ConfigError):
                raise
            except BatchFailed as exc:
                failed = pending.popleft()
                yield (
                    failed,
                    failed_results(self.payloads(failed), exc.message, operation_failed=True),
                )
                if exc.resume is not None:
                    stream = exc.resume  # the same pipeline goes on: in-flight batches awaited
                else:
                    carry.extend(pending)  # sent again (keyed: safe), then the rest
                    pending.clear()
                    stream = iter(self.client.run_batches(self.kind, self.integration_id, feed()))
            except ApiError as exc:
                # BulkStopped tells which batches were submitted; any other error: all of them
                unknown = len(exc.unknown) if isinstance(exc, BulkStopped) else len(pending)
                for _ in range(min(unknown, len(pending))):
                    batch = pending.popleft()
                    yield batch, failed_results(self.payloads(batch), exc.message)
                self.not_sent = len(pending)
                pending.clear()
                self.error = exc
                return


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
    noun: str = "items",
) -> dict[str, Outcome]:
    """Send ``items`` with bulk ``kind``; return ``{key(item): Outcome}`` for every item sent.

    ``into`` (optional) is filled as batches complete, so a caller still holds the outcomes of the
    batches that were applied when an error stops the run half-way. When 360Learning refuses to
    go on, the items sent are in ``into`` and an :class:`~learnsync.errors.ApiError` says how many
    were not sent (they have no outcome: the next run sends them).
    """
    outcomes: dict[str, Outcome] = {} if into is None else into
    batches = [list(items[i : i + size]) for i in range(0, len(items), size)]
    if not batches:
        return outcomes
    stream = BulkStream(client, kind, integration_id, batches, lambda batch: batch)
    sent = 0
    for batch, results in stream:
        for item, outcome in zip(batch, to_outcomes(batch, results, key), strict=True):
            outcomes[key(item)] = outcome
        sent += len(batch)
        if on_batch is not None:
            on_batch(len(batch))
    if stream.error is not None:
        not_sent = len(items) - sent
        raise ApiError(
            f"{stream.error.message}; {not_sent} {noun} were not sent (the next run sends them)",
            status=stream.error.status,
            code=stream.error.code,
            body=stream.error.body,
            api=stream.error.api,
        )
    return outcomes


def to_outcomes(
    payloads: list[dict[str, Any]],
    results: list[BulkResult],
    key: Callable[[dict[str, Any]], str] | None = None,
) -> list[Outcome]:
    """One :class:`Outcome` per payload (``key(item)``, or its position when ``key`` is None)."""
    outcomes = []
    for position, item in enumerate(payloads):
        found = results[position] if position < len(results) else None
        item_key = key(item) if key is not None else str(position)
        if found is None:
            outcomes.append(Outcome(item_key, False, error="no result returned"))
        elif found.ok:
            outcomes.append(Outcome(item_key, True, resource_id=found.resource_id))
        else:
            outcomes.append(
                Outcome(
                    item_key,
                    False,
                    error=found.error or "rejected",
                    operation_failed=found.operation_failed,
                )
            )
    return outcomes
