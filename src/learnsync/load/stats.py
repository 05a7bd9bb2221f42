"""Load statistics into 360Learning: bulk imports of ≤ 10,000 items, at most 3 in flight, streamed.

:func:`learnsync.load.bulk.run_bulk` takes all items at once; a million statistics must not sit
in memory, so this is its streaming twin. Both follow the one rule of
:class:`learnsync.load.bulk.BulkStream` (docs/waiting.md#when-a-batch-fails): every item sent
comes back as an :class:`~learnsync.load.bulk.Outcome`, success or error;

- a batch whose operation ends in ``error`` fails alone, and the import goes on with the batches
  in flight behind it and the next ones;
- when 360Learning refuses to go on (bulk API disabled through the retries, the 3 slots held by
  others past their budget, an operation that could not be followed), the batches sent but not
  confirmed fail, and the import stops: the batches never sent get no outcome — they are left for
  the next run (``StreamResult.error`` says why);
- authentication and configuration errors propagate.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from learnsync.load.bulk import STATS_LIMIT, BulkStream, Outcome, to_outcomes
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
    """Send every batch; call ``on_result(batch, outcomes)`` once per batch sent, in order."""

    def checked() -> Iterator[Batch[M]]:
        for batch in batches:
            if len(batch.payloads) > STATS_LIMIT:
                raise ValueError(f"a statistics batch holds at most {STATS_LIMIT} items")
            yield batch

    stream = BulkStream(client, KIND, integration_id, checked(), lambda batch: batch.payloads)
    for batch, results in stream:
        on_result(batch, to_outcomes(batch.payloads, results))
    return StreamResult(error=stream.error.message if stream.error is not None else None)
