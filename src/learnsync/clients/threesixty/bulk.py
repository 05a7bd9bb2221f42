"""360Learning bulk writes: submit → poll the operation → read per-item results.

The bulk framework: docs/api-notes.md#bulk-operations.

``run_batches`` is the pipeline the loaders use. It keeps at most ``max_in_flight`` (≤ 3)
operations unfinished — 360Learning runs at most three per company — and yields each batch's
results in submission order as soon as they are ready.

Each waiting loop has one budget (docs/waiting.md), and the HTTP retries inside it are charged
to it:

- A 429 ``bulkOperationsConcurrencyLimitReached`` on submit while our own operations are in flight
  means they hold the slots: wait for the oldest, then submit again. With none of ours in flight
  (other clients hold the slots) this loop — not the HTTP retries — pauses ``slot_wait_initial``
  (1 s), doubling up to ``slot_wait_max`` (30 s), a ``Retry-After`` replacing the pause, for
  ``concurrency_patience`` seconds (600) in all from the first refusal; then it gives up.
- Polling an operation (``wait``): ``poll_initial`` ×1.5 up to ``poll_max``, for
  ``wait_timeout`` seconds in all (``OPERATION_WAIT``, 900 s); the last poll is at the deadline.
  An operation still unfinished then stops the pipeline (:class:`BulkStopped`): the run fails
  with one line and the next run sends the items again.
- An operation that ends in ``error`` (or a submit that got no answer, or was refused for its own
  content) raises :class:`BatchFailed` for that batch alone: ``resume`` goes on with the batches
  in flight and the rest. When 360Learning refuses more work (503 through the retries, the slot
  budget spent) the pipeline finishes the operations it has in flight, then raises
  :class:`BulkStopped`; when an operation cannot be followed (polling failed or ran out of its
  budget) it raises it at once.
- Results are aligned with the batch: ``results[i]`` is the outcome of ``batch[i]`` (matched by
  position when the echoed inputs agree, else by the echoed input; an item without a result gets
  ``ok=False``). More results than the largest request has items (``MAX_RESULTS``) are refused.
- An operation URL (the submit's ``Location``) must have the origin of ``base_url`` — scheme,
  host and port: an ``http://`` one for an ``https://`` platform is refused before any request.
"""

from __future__ import annotations

import json
import logging
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

from learnsync import fastjson
from learnsync.clients.threesixty.errors import API
from learnsync.errors import ApiError, AuthError
from learnsync.http.retry import retry_after
from learnsync.http.session import decode_body, error_code
from learnsync.http.shared import BulkSlots, Slot
from learnsync.http.urls import same_origin
from learnsync.http.waiting import Budget
from learnsync.model.bulk import BatchFailed, BulkResult, BulkStopped

if TYPE_CHECKING:
    import httpx

    from learnsync.http import RetryPolicy

Resume = Callable[[], Iterator[tuple[list[dict[str, Any]], list[BulkResult]]]]

log = logging.getLogger("learnsync.threesixty")

# kind → (method, path template, per-request limit); docs/api-notes.md#bulk-operations
BULK_KINDS: dict[str, tuple[str, str, int]] = {
    "upsert_courses": ("PUT", "/api/v2/bulk/integrations/{id}/courses", 10_000),
    "archive_courses": ("DELETE", "/api/v2/bulk/integrations/{id}/courses", 1_000),
    "import_stats": ("POST", "/api/v2/bulk/integrations/{id}/stats", 10_000),
}
CONCURRENCY_LIMIT = "bulkOperationsConcurrencyLimitReached"
MAX_IN_FLIGHT = 3
# the polling budget of one operation (docs/waiting.md): past it, the run stops and the next
# run sends the items again — an operation that never ends no longer holds the run for an hour
OPERATION_WAIT = 900.0
MAX_RESULTS = max(limit for _, _, limit in BULK_KINDS.values())  # one per item sent
# waiting for one of the company's shared slots held by other runs: 0.2 s, doubling up to 2 s
SHARED_SLOT_WAIT_INITIAL = 0.2
SHARED_SLOT_WAIT_MAX = 2.0
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
        return fastjson.loads(content, replace_invalid_utf8=True)
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


@dataclass
class _Flight:
    """The state of one ``run_batches`` pipeline, shared with the iterator that resumes it."""

    source: Iterator[list[dict[str, Any]]]
    in_flight: deque[tuple[list[dict[str, Any]], str]] = field(default_factory=deque)
    current: list[dict[str, Any]] | None = None  # taken from the source, not yet accepted
    stop: BulkStopped | None = None  # refused: finish what is in flight, then raise this
    sent: dict[str, int] = field(default_factory=dict)  # operation URL → bytes of its submit
    held: dict[str, Slot] = field(default_factory=dict)  # operation URL → its shared bulk slot

    def renew(self) -> None:
        """Keep the shared slots of the operations in flight (they expire unrenewed)."""
        for slot in self.held.values():
            slot.renew()

    def give_back(self, url: str | None = None) -> None:
        """Release the slot of operation ``url`` (ended), or every slot (``None``: stopped)."""
        for key in [url] if url is not None else list(self.held):
            slot = self.held.pop(key, None) if key is not None else None
            if slot is not None:
                slot.release()


class BulkMixin:
    """Bulk operations for :class:`~learnsync.clients.threesixty.client.ThreeSixtyClient`."""

    base_url: str
    poll_initial: float
    poll_max: float
    wait_timeout: float
    concurrency_patience: float
    slot_wait_initial: float
    slot_wait_max: float
    max_body_bytes: int
    slots: BulkSlots | None = None  # the company's shared slots (learnsync.http.shared)
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
        budget: Budget | None = None,
        max_body_bytes: int | None = None,
    ) -> httpx.Response:
        raise NotImplementedError

    def _json(self, response: httpx.Response) -> Any:
        raise NotImplementedError

    def _error(self, method: str, url: str, response: httpx.Response) -> Exception:
        raise NotImplementedError

    def _budget(self, seconds: float) -> Budget:
        return Budget(seconds, clock=self.clock, sleep=self.sleep)

    # -- one operation -------------------------------------------------------------------------

    def submit(
        self,
        kind: str,
        integration_id: str,
        items: list[dict[str, Any]],
        *,
        retry: RetryPolicy | None = None,
        budget: Budget | None = None,
    ) -> str:
        """Submit one bulk request; return the operation URL (the ``Location`` header)."""
        response = self._submit(kind, integration_id, items, retry=retry, budget=budget)
        if response.status_code == 429:
            raise self._error(response.request.method, str(response.request.url), response)
        return self._location(kind, response)

    def _submit(
        self,
        kind: str,
        integration_id: str,
        items: list[dict[str, Any]],
        *,
        retry: RetryPolicy | None,
        budget: Budget | None,
    ) -> httpx.Response:
        """One submit (with the policy's retries); a final 429 is returned, not raised."""
        limit = limit_for(kind)
        if len(items) > limit:
            raise ValueError(f"{kind} takes at most {limit} items per request, got {len(items)}")
        method, template, _ = BULK_KINDS[kind]
        return self._request(
            method,
            template.format(id=integration_id),
            kind=f"bulk_{kind}",
            json={"input": items},
            idempotent=False,  # each submit creates an operation (see learnsync.http.retry)
            retry=retry,
            ok=(200, 201, 202, 429),
            budget=budget,
        )

    def _location(self, kind: str, response: httpx.Response) -> str:
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
        if not same_origin(url, self.base_url):
            # our bearer token goes only to the configured origin: scheme, host and port
            parts = urlsplit(url)
            raise ApiError(
                f"360Learning pointed to a bulk operation on another origin "
                f"({parts.scheme}://{parts.netloc}, not the one of [threesixty] base_url); "
                "refusing to send the token there",
                code="foreignOrigin",
                api=API,
            )
        return url

    def get_operation(self, operation_url: str, *, budget: Budget | None = None) -> dict[str, Any]:
        response = self._request("GET", operation_url, kind="bulk_operation", budget=budget)
        body = self._json(response)
        if not isinstance(body, dict):
            raise ApiError("360Learning returned a malformed bulk operation", api=API, body=body)
        return body

    def wait(self, operation_url: str, on_poll: Callable[[], None] | None = None) -> dict[str, Any]:
        """Poll until the operation is ``completed`` or ``error``; return its last state
        (``on_poll``: called before each poll — the pipeline renews its shared slots).

        One budget, ``wait_timeout`` seconds (docs/waiting.md): the pauses between polls and the
        polls' own HTTP retries all come out of it; the last poll is at the deadline."""
        delay = self.poll_initial
        budget = self._budget(self.wait_timeout)
        polls = 0
        while True:
            polls += 1
            if on_poll is not None:
                on_poll()
            operation = self.get_operation(operation_url, budget=budget)
            if operation.get("status") in ENDED_STATUSES:
                return operation
            if budget.expired:
                raise ApiError(
                    f"the 360Learning bulk operation {operation.get('_id', '')} was still "
                    f"{operation.get('status')} after {self.wait_timeout:.0f}s ({polls} polls); "
                    "it may finish later — run again to send what it did not apply",
                    api=API,
                    body=operation,
                )
            budget.sleep(delay)
            delay = min(delay * 1.5, self.poll_max)

    def results(self, operation_url: str, *, sent_bytes: int = 0) -> list[BulkResult]:
        """The per-item results. Decoded directly (a 10,000-item answer is ~3–8 MB): what leaves
        this method from it is resource ids and error messages, and each error message is
        scrubbed of secrets; the echoed inputs are our own payloads.

        They echo the items sent, so the answer may be larger than the session's limit of one
        answer by twice ``sent_bytes`` (the size of the submit's body), no more."""
        limit = self.max_body_bytes + 2 * max(0, sent_bytes)
        response = self._request(
            "GET",
            operation_url.rstrip("/") + "/results",
            kind="bulk_results",
            max_body_bytes=limit,
        )
        body = _loads(response.content)
        if not isinstance(body, list):
            raise ApiError("360Learning returned bulk results that are not a list", api=API)
        if len(body) > MAX_RESULTS:
            raise ApiError(
                f"360Learning returned {len(body):,} bulk results for one operation, more than "
                f"{MAX_RESULTS:,}, the most items a request carries; refusing them",
                code="tooManyResults",
                api=API,
            )
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
        state = _Flight(source=iter(batches))
        return self._pipeline(kind, integration_id, state, max_in_flight, limit)

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
        state: _Flight,
        max_in_flight: int,
        limit: int,
    ) -> Iterator[tuple[list[dict[str, Any]], list[BulkResult]]]:
        """Room first (wait for our oldest operation), then take the next batch and submit it.

        A :class:`BatchFailed` carries ``resume``: this same pipeline, from where it stopped."""
        in_flight = state.in_flight

        def resume() -> Iterator[tuple[list[dict[str, Any]], list[BulkResult]]]:
            # a new generator over the same state: it goes on where this one stopped
            return self._pipeline(kind, integration_id, state, max_in_flight, limit)

        while True:
            if state.stop is not None:
                # 360Learning refused more work: what it accepted is still followed to its end
                while in_flight:
                    yield self._finish(state, resume)
                raise state.stop
            if state.current is None:
                if len(in_flight) >= max_in_flight:
                    yield self._finish(state, resume)
                    continue
                batch = next(state.source, None)
                if batch is None:
                    break
                self._check_size(kind, batch, limit)
                if not batch:
                    yield batch, []
                    continue
                state.current = batch
            batch = state.current
            slots: Budget | None = None  # the slot-waiting budget, from the first refusal
            delay = self.slot_wait_initial
            shared_delay = SHARED_SLOT_WAIT_INITIAL
            refusals = 0
            while True:
                own = bool(in_flight)
                # the company's shared slots (other runs' operations count): all held by ours,
                # wait for our oldest; by others', wait under the slot budget
                slot = self.slots.take() if self.slots is not None else None
                if self.slots is not None and slot is None:
                    if own:
                        yield self._finish(state, resume)
                        continue
                    if slots is None:
                        slots = self._budget(self.concurrency_patience)
                    if slots.expired:
                        state.current = None
                        state.stop = BulkStopped(
                            self._held_error(kind, slots), unknown=[], not_sent=[batch]
                        )
                        break
                    slots.sleep(min(shared_delay, slots.remaining()))
                    shared_delay = min(shared_delay * 2, SHARED_SLOT_WAIT_MAX)
                    continue
                # 429s are answered here, not by the HTTP retries: with our own operations
                # running, by waiting for the oldest of them; else under the slot budget
                try:
                    response = self._submit(
                        kind,
                        integration_id,
                        batch,
                        retry=self.retry.without_statuses(429),
                        budget=slots,
                    )
                    if response.status_code != 429:
                        url = self._location(kind, response)
                        state.sent[url] = len(response.request.content)
                        if slot is not None:
                            state.held[url] = slot
                            slot = None
                        break
                except AuthError:
                    if slot is not None:
                        slot.release()
                    raise
                except ApiError as exc:
                    if slot is not None:
                        slot.release()
                    state.current = None
                    if exc.status == 0:
                        # no answer: it may have been applied; this batch fails alone
                        raise self._lost(batch, exc, state, resume) from None
                    if exc.status in (429, 503):
                        # 360Learning refuses bulk work (bulkAPIDisabled through the retries)
                        state.stop = BulkStopped(exc, unknown=[], not_sent=[batch])
                        break
                    raise BatchFailed(
                        f"360Learning refused a {kind} request of {len(batch)} items: "
                        f"{exc.message}",
                        batch=batch,
                        in_flight=[b for b, _ in in_flight],
                        operation={},
                        operation_url="",
                        resume=resume(),
                    ) from None
                if slot is not None:
                    slot.release()  # refused: the slot is not used
                refusals += 1
                if own and error_code(decode_body(response)) == CONCURRENCY_LIMIT:
                    yield self._finish(state, resume)
                    continue
                if slots is None:
                    slots = self._budget(self.concurrency_patience)
                if slots.expired:
                    state.current = None
                    error = self._slots_error(kind, response, slots, refusals)
                    state.stop = BulkStopped(error, unknown=[], not_sent=[batch])
                    break
                hint = retry_after(response, now=self.clock())
                wait = delay if hint is None else min(hint, self.retry.max_retry_after)
                log.warning(
                    "360Learning refused the %s submit (429 %s); waiting %.1fs (%.0fs of %.0fs "
                    "used)",
                    kind,
                    error_code(decode_body(response)) or "tooManyRequests",
                    min(wait, slots.remaining()),
                    slots.elapsed(),
                    slots.seconds,
                )
                slots.sleep(wait)
                delay = min(delay * 2, self.slot_wait_max)
            if state.stop is not None:
                continue
            state.current = None
            in_flight.append((batch, url))
        while in_flight:
            yield self._finish(state, resume)

    def _held_error(self, kind: str, slots: Budget) -> ApiError:
        return ApiError(
            f"gave up sending {kind} to 360Learning: other runs of this company held all "
            f"{MAX_IN_FLIGHT} bulk slots for {slots.elapsed():.0f}s; run again later",
            status=429,
            code=CONCURRENCY_LIMIT,
            api=API,
        )

    def _slots_error(
        self, kind: str, response: httpx.Response, slots: Budget, refusals: int
    ) -> ApiError:
        code = error_code(decode_body(response))
        if code == CONCURRENCY_LIMIT:
            why = (
                "other bulk operations of this company held all 3 bulk slots "
                f"(bulkOperationsConcurrencyLimitReached) for {slots.elapsed():.0f}s"
            )
        else:
            why = (
                f"360Learning kept answering 429 ({code or 'tooManyRequests'}) for "
                f"{slots.elapsed():.0f}s"
            )
        return ApiError(
            f"gave up sending {kind} to 360Learning: {why}, {refusals} submits refused; "
            "run again later",
            status=429,
            code=code,
            body=self._json(response),
            api=API,
        )

    def _stopped(
        self, exc: ApiError, state: _Flight, *, not_sent: list[list[dict[str, Any]]]
    ) -> BulkStopped:
        unknown = [b for b, _ in state.in_flight]
        state.in_flight.clear()
        state.sent.clear()
        state.give_back()
        if state.current is not None and not any(b is state.current for b in not_sent):
            not_sent = [*not_sent, state.current]  # taken from the source, never accepted
        state.current = None
        return BulkStopped(exc, unknown=unknown, not_sent=not_sent)

    def _lost(
        self,
        batch: list[dict[str, Any]],
        exc: ApiError,
        state: _Flight,
        resume: Resume,
    ) -> BatchFailed:
        return BatchFailed(
            f"{exc.message}; its {len(batch)} items may not have been applied (the next run "
            "sends them again)",
            batch=batch,
            in_flight=[b for b, _ in state.in_flight],
            operation={},
            operation_url="",
            resume=resume(),
        )

    def _finish(
        self,
        state: _Flight,
        resume: Resume,
    ) -> tuple[list[dict[str, Any]], list[BulkResult]]:
        in_flight = state.in_flight
        batch, url = in_flight[0]
        try:
            operation = self.wait(url, on_poll=state.renew)
            state.give_back(url)  # ended: its slot is free for the company's next operation
            if operation.get("status") == "error":
                results = None
            else:
                results = self.results(url, sent_bytes=state.sent.get(url, 0))
        except AuthError:
            raise
        except ApiError as exc:
            # polling failed or ran out of its budget: this batch's outcome is unknown
            raise self._stopped(exc, state, not_sent=[]) from None
        in_flight.popleft()
        state.sent.pop(url, None)
        if results is None:
            message = operation.get("errorMessage") or "no errorMessage given"
            raise BatchFailed(
                f"the 360Learning bulk operation {operation.get('_id', '')} ended in error: "
                f"{message}; its {len(batch)} items were not applied",
                batch=batch,
                in_flight=[b for b, _ in in_flight],
                operation=operation,
                operation_url=url,
                resume=resume(),
            )
        return batch, align(batch, results)
