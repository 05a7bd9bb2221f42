"""360Learning bulk writes: submit → poll the operation → read per-item results.

The bulk framework: docs/api-notes.md#bulk-operations.

``run_batches`` is the pipeline the loaders use. It keeps at most ``max_in_flight`` (≤ 3)
operations unfinished — 360Learning runs at most three per company — and yields each batch's
results in submission order as soon as they are ready.

- A 429 ``bulkOperationsConcurrencyLimitReached`` on submit while our own operations are in flight
  means they hold the slots: wait for the oldest, then submit again. With none of ours in flight
  (another process holds the slots) the submit is retried by the retry policy, then after
  ``poll_max`` pauses up to ``concurrency_patience`` seconds in all.
- An operation that ends in ``error`` raises :class:`BatchFailed` (a ``BulkOperationError``) that
  carries the failed batch and the batches still in flight; batches yielded before were applied.
- Results are aligned with the batch: ``results[i]`` is the outcome of ``batch[i]`` (matched by
  position when the echoed inputs agree, else by the echoed input; an item without a result gets
  ``ok=False``).
"""

from __future__ import annotations

import json
import logging
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

from learnsync import fastjson
from learnsync.clients.threesixty.errors import API
from learnsync.errors import ApiError
from learnsync.model.bulk import BatchFailed, BulkResult

if TYPE_CHECKING:
    import httpx

    from learnsync.http import RetryPolicy

log = logging.getLogger("learnsync.threesixty")

# kind → (method, path template, per-request limit); docs/api-notes.md#bulk-operations
BULK_KINDS: dict[str, tuple[str, str, int]] = {
    "upsert_courses": ("PUT", "/api/v2/bulk/integrations/{id}/courses", 10_000),
    "archive_courses": ("DELETE", "/api/v2/bulk/integrations/{id}/courses", 1_000),
    "import_stats": ("POST", "/api/v2/bulk/integrations/{id}/stats", 10_000),
}
CONCURRENCY_LIMIT = "bulkOperationsConcurrencyLimitReached"
MAX_IN_FLIGHT = 3
# the statuses of an operation that has ended (the `bulk.operation.ended` webhook lists the same)
ENDED_STATUSES = ("completed", "error")


def limit_for(kind: str) -> int:
    if kind not in BULK_KINDS:
        raise ValueError(f"unknown bulk kind {kind!r} (known: {', '.join(BULK_KINDS)})")
    return BULK_KINDS[kind][2]


def chunked(items: Sequence[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    """``items`` in lists of at most ``size`` (use ``limit_for(kind)``)."""
    if size < 1:
        raise ValueError("size must be at least 1")
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def _loads(content: bytes) -> Any:
    """JSON bytes → data (a results answer is ~3 MB: fast decoder); ``None`` when not JSON."""
    if not content:
        return None
    try:
        return fastjson.loads(content)
    except ValueError:
        return None


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _result(entry: Any) -> BulkResult:
    if not isinstance(entry, dict):
        return BulkResult({}, False, error="360Learning returned a malformed result entry")
    raw_input = entry.get("input")
    echoed: dict[str, Any] = raw_input if isinstance(raw_input, dict) else {}
    if entry.get("status") == "success":
        rid = entry.get("resourceId")
        return BulkResult(echoed, True, resource_id=str(rid) if rid is not None else None)
    message = entry.get("errorMessage")
    return BulkResult(echoed, False, error=str(message) if message else "rejected")


def align(batch: list[dict[str, Any]], results: list[BulkResult]) -> list[BulkResult]:
    """One result per batch item, in batch order."""
    # dict equality first (C speed); the canonical-JSON key only when matching by input
    if len(results) == len(batch) and all(
        not r.input or r.input == item for r, item in zip(results, batch, strict=True)
    ):
        return [
            r if r.input else BulkResult(item, r.ok, r.resource_id, r.error)
            for r, item in zip(results, batch, strict=True)
        ]
    by_input: dict[str, deque[BulkResult]] = {}
    for r in results:
        by_input.setdefault(_key(r.input), deque()).append(r)
    aligned = []
    for item in batch:
        queue = by_input.get(_key(item))
        if queue:
            aligned.append(queue.popleft())
        else:
            aligned.append(BulkResult(item, False, error="360Learning returned no result for it"))
    return aligned


class BulkMixin:
    """Bulk operations for :class:`~learnsync.clients.threesixty.client.ThreeSixtyClient`."""

    base_url: str
    poll_initial: float
    poll_max: float
    wait_timeout: float
    concurrency_patience: float
    retry: RetryPolicy
    sleep: Callable[[float], None]
    clock: Callable[[], float]

    def _request(
        self,
        method: str,
        url: str,
        *,
        kind: str,
        params: dict[str, Any] | None = None,
        json: Any = None,
        idempotent: bool | None = None,
        retry: RetryPolicy | None = None,
        ok: tuple[int, ...] = (200,),
    ) -> httpx.Response:
        raise NotImplementedError

    def _json(self, response: httpx.Response) -> Any:
        raise NotImplementedError

    # -- one operation -------------------------------------------------------------------------

    def submit(
        self,
        kind: str,
        integration_id: str,
        items: list[dict[str, Any]],
        *,
        retry: RetryPolicy | None = None,
    ) -> str:
        """Submit one bulk request; return the operation URL (the ``Location`` header)."""
        limit = limit_for(kind)
        if len(items) > limit:
            raise ValueError(f"{kind} takes at most {limit} items per request, got {len(items)}")
        method, template, _ = BULK_KINDS[kind]
        response = self._request(
            method,
            template.format(id=integration_id),
            kind=f"bulk_{kind}",
            json={"input": items},
            idempotent=False,  # each submit creates an operation (see learnsync.http.retry)
            retry=retry,
            ok=(200, 201, 202),
        )
        location = response.headers.get("Location")
        if not location:
            raise ApiError(
                f"360Learning accepted a {kind} request without a Location header",
                status=response.status_code,
                api=API,
            )
        return self._operation_url(location)

    def _operation_url(self, location: str) -> str:
        url = urljoin(self.base_url + "/", location)
        if urlsplit(url).netloc != urlsplit(self.base_url).netloc:
            # our bearer token goes only to the configured host
            raise ApiError(
                f"360Learning pointed to an operation on another host ({urlsplit(url).netloc}); "
                "refusing to send the token there",
                api=API,
            )
        return url

    def get_operation(self, operation_url: str) -> dict[str, Any]:
        body = self._json(self._request("GET", operation_url, kind="bulk_operation"))
        if not isinstance(body, dict):
            raise ApiError("360Learning returned a malformed bulk operation", api=API, body=body)
        return body

    def wait(self, operation_url: str) -> dict[str, Any]:
        """Poll until the operation is ``completed`` or ``error``; return its last state."""
        delay = self.poll_initial
        deadline = self.clock() + self.wait_timeout
        while True:
            operation = self.get_operation(operation_url)
            if operation.get("status") in ENDED_STATUSES:
                return operation
            if self.clock() >= deadline:
                raise ApiError(
                    f"the 360Learning bulk operation {operation.get('_id', '')} was still "
                    f"{operation.get('status')} after {self.wait_timeout:.0f}s; it may finish "
                    "later — run again to send what it did not apply",
                    api=API,
                    body=operation,
                )
            self.sleep(delay)
            delay = min(delay * 1.5, self.poll_max)

    def results(self, operation_url: str) -> list[BulkResult]:
        """The per-item results. Decoded directly (a 10,000-item answer is ~3 MB): what leaves
        this method from it is resource ids and error messages, and each error message is
        scrubbed of secrets; the echoed inputs are our own payloads."""
        response = self._request("GET", operation_url.rstrip("/") + "/results", kind="bulk_results")
        body = _loads(response.content)
        if not isinstance(body, list):
            raise ApiError("360Learning returned bulk results that are not a list", api=API)
        results = [_result(entry) for entry in body]
        session = getattr(self, "session", None)
        if session is None:
            return results
        return [
            r if r.ok or not r.error else BulkResult(r.input, False, error=session.scrub(r.error))
            for r in results
        ]

    # -- the pipeline --------------------------------------------------------------------------

    def run_batches(
        self,
        kind: str,
        integration_id: str,
        batches: Iterable[list[dict[str, Any]]],
        max_in_flight: int = MAX_IN_FLIGHT,
    ) -> Iterator[tuple[list[dict[str, Any]], list[BulkResult]]]:
        limit = limit_for(kind)
        if not 1 <= max_in_flight <= MAX_IN_FLIGHT:
            raise ValueError(f"max_in_flight must be between 1 and {MAX_IN_FLIGHT}")
        if isinstance(batches, Sequence):
            for batch in batches:
                self._check_size(kind, batch, limit)
        return self._pipeline(kind, integration_id, batches, max_in_flight, limit)

    @staticmethod
    def _check_size(kind: str, batch: list[dict[str, Any]], limit: int) -> None:
        if len(batch) > limit:
            raise ValueError(
                f"a {kind} batch has {len(batch)} items; 360Learning takes at most {limit} "
                "(use chunked(items, limit_for(kind)))"
            )

    def _pipeline(
        self,
        kind: str,
        integration_id: str,
        batches: Iterable[list[dict[str, Any]]],
        max_in_flight: int,
        limit: int,
    ) -> Iterator[tuple[list[dict[str, Any]], list[BulkResult]]]:
        in_flight: deque[tuple[list[dict[str, Any]], str]] = deque()
        for batch in batches:
            self._check_size(kind, batch, limit)
            if not batch:
                yield batch, []
                continue
            while len(in_flight) >= max_in_flight:
                yield self._finish(in_flight)
            waited = 0.0
            while True:
                own = bool(in_flight)
                # with our own operations running, a concurrency 429 is answered by waiting for
                # the oldest of them, not by blind backoff
                policy = self.retry.without_statuses(429) if own else None
                try:
                    url = self.submit(kind, integration_id, batch, retry=policy)
                    break
                except ApiError as exc:
                    if exc.code != CONCURRENCY_LIMIT:
                        raise
                    if own:
                        yield self._finish(in_flight)
                        continue
                    if waited >= self.concurrency_patience:
                        raise ApiError(
                            "360Learning kept answering bulkOperationsConcurrencyLimitReached: "
                            "other bulk operations of this company hold all 3 slots; run again "
                            "later",
                            status=429,
                            code=CONCURRENCY_LIMIT,
                            api=API,
                        ) from None
                    log.warning("360Learning bulk slots are busy; waiting %.1fs", self.poll_max)
                    self.sleep(self.poll_max)
                    waited += self.poll_max
            in_flight.append((batch, url))
        while in_flight:
            yield self._finish(in_flight)

    def _finish(
        self, in_flight: deque[tuple[list[dict[str, Any]], str]]
    ) -> tuple[list[dict[str, Any]], list[BulkResult]]:
        batch, url = in_flight.popleft()
        operation = self.wait(url)
        if operation.get("status") == "error":
            message = operation.get("errorMessage") or "no errorMessage given"
            raise BatchFailed(
                f"the 360Learning bulk operation {operation.get('_id', '')} ended in error: "
                f"{message}; its {len(batch)} items were not applied",
                batch=batch,
                in_flight=[b for b, _ in in_flight],
                operation=operation,
                operation_url=url,
            )
        return batch, align(batch, self.results(url))
