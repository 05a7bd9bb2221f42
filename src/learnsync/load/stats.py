"""Load statistics into 360Learning: bulk imports of ≤ 10,000 items, at most 3 in flight, streamed.

:func:`learnsync.load.bulk.run_bulk` takes all items at once; a million statistics must not sit
in memory, so this is its streaming twin with the same per-item contract (every item sent comes
back as an :class:`~learnsync.load.bulk.Outcome`, success or error) built on the same client
pipeline (``run_batches("import_stats", ...)``):

- a batch whose operation ends in ``error`` (and the batches in flight behind it) fail item by
  item, and the import goes on with the next batches;
- any other API failure (bulk API disabled through the retries, the 3 slots held by others too
  long) fails the batches sent but not confirmed, and stops: the batches never sent are left for
  the next run (``StreamResult.error`` says why);
- authentication and configuration errors propagate.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from learnsync.errors import ApiError, AuthError, ConfigError
from learnsync.load.bulk import STATS_LIMIT, Outcome
from learnsync.model.bulk import BatchFailed, BulkResult
from learnsync.model.ports import BulkKind, ThreeSixtyTarget

KIND: BulkKind = "import_stats"
M = TypeVar("M")


@dataclass(slots=True)
class Batch(Generic[M]):
    """Payloads to send and whatever the caller needs to record their outcome (``meta``)."""

    payloads: list[dict[str, Any]]
    meta: M


@dataclass(slots=True)
class StreamResult:
    error: str | None = None  # a fatal API error stopped the import (later batches not sent)


def import_stats(
    client: ThreeSixtyTarget,
    integration_id: str,
    batches: Iterable[Batch[M]],
    on_result: Callable[[Batch[M], list[Outcome]], None],
) -> StreamResult:
    """Send every batch; call ``on_result(batch, outcomes)`` once per batch, in order."""
    source = iter(batches)
    pending: deque[Batch[M]] = deque()  # handed to the client, outcome not yet known
    result = StreamResult()

    carry: list[Batch[M]] = []  # pulled by the client but not submitted when an error came

    def feed() -> Iterator[list[dict[str, Any]]]:
        while carry:
            batch = carry.pop(0)
            pending.append(batch)
            yield batch.payloads
        for batch in source:
            if len(batch.payloads) > STATS_LIMIT:
                raise ValueError(f"a statistics batch holds at most {STATS_LIMIT} items")
            pending.append(batch)
            yield batch.payloads

    while True:
        try:
            for _payloads, results in client.run_batches(KIND, integration_id, feed()):
                batch = pending.popleft()
                on_result(batch, _outcomes(batch, results))
            return result
        except (AuthError, ConfigError):
            raise
        except BatchFailed as exc:
            # the failed batch and those in flight behind it were not applied; go on
            for _ in range(1 + len(exc.in_flight)):
                if pending:
                    batch = pending.popleft()
                    on_result(batch, _failed(batch, exc.message))
            carry.extend(pending)
            pending.clear()
        except ApiError as exc:
            while pending:
                batch = pending.popleft()
                on_result(batch, _failed(batch, exc.message))
            result.error = exc.message
            return result


def _outcomes(batch: Batch[M], results: list[BulkResult]) -> list[Outcome]:
    outcomes = []
    for position, _item in enumerate(batch.payloads):
        found = results[position] if position < len(results) else None
        key = str(position)
        if found is None:
            outcomes.append(Outcome(key, False, error="no result returned"))
        elif found.ok:
            outcomes.append(Outcome(key, True, resource_id=found.resource_id))
        else:
            outcomes.append(Outcome(key, False, error=found.error or "rejected"))
    return outcomes


def _failed(batch: Batch[M], message: str) -> list[Outcome]:
    return [Outcome(str(i), False, error=message) for i in range(len(batch.payloads))]
