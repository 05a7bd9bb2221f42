"""One HTTP session per API: rate limit, retry, count, and keep secrets out of every message.

Both clients send every request through :meth:`HttpSession.send`, so the retry policy
(:mod:`learnsync.http.retry`) and the rate limits (:mod:`learnsync.http.ratelimit`) apply the same
way everywhere, and ``request_count`` counts what really went over the wire (retries and token
requests included) — the benchmarks read it.

Status codes are *returned*, not raised: what a 401 or a 403 means differs per API, so each client
maps answers to :mod:`learnsync.errors`. Raised here, as :class:`~learnsync.errors.ApiError` with
status 0 (no usable answer), are a transport failure that outlived the retries and, never
retried, an answer refused by the limits on upstreams (docs/clients.md#limits-on-upstreams):

- ``MAX_BODY_BYTES``: an answer is streamed and refused once it passes 32 MiB (decoded; a
  ``Content-Length`` above it is refused before the body is read);
- ``REQUEST_DEADLINE``: one attempt — connect, send, the answer's headers and its whole body —
  ends within 300 s (:mod:`learnsync.http.deadline`), however slowly the server drips it;
- ``MAX_JSON_DEPTH``, ``MAX_JSON_CONTAINERS``: a JSON answer nesting deeper than 64 levels or
  holding more than 1,000,000 arrays and objects is refused before it is decoded;
- a body that is not the ``Content-Encoding`` it claims (``httpx.DecodingError``).

Bodies that are not valid UTF-8 are decoded with U+FFFD in place of the bad bytes
(:func:`decode_body`): one bad row does not cost its page.
"""

from __future__ import annotations

import functools
import json as _json
import logging
import re
import ssl
import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from learnsync import fastjson
from learnsync.errors import ApiError
from learnsync.http import deadline as _deadline
from learnsync.http.ratelimit import Limiter
from learnsync.http.retry import RetryPolicy
from learnsync.http.waiting import Budget

log = logging.getLogger("learnsync.http")

REDACTED = "[redacted]"
DEFAULT_TIMEOUT = httpx.Timeout(connect=15.0, read=60.0, write=60.0, pool=30.0)
# the limits on upstreams (docs/clients.md#limits-on-upstreams). Real answers: ~1 MB for 1,000
# report rows or catalog items, 3–8 MB for 10,000 bulk results (they echo the items sent: the
# 360Learning client allows them twice the submit's size more); less than 10 levels of nesting.
MAX_BODY_BYTES = 32 * 1024 * 1024  # one answer, decoded: worst-case JSON is ~400 MB of objects
REQUEST_DEADLINE = 300.0  # seconds for one attempt, the whole answer included
MAX_JSON_DEPTH = 64  # nested arrays and objects; far below Python's recursion limit (1,000)
MAX_JSON_CONTAINERS = 1_000_000  # arrays and objects of one answer (10,000 results: ~50,000)
_MAX_BODY_TEXT = 2000
_JSON_START = re.compile(rb"[ \t\r\n]*[\[{]")


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The one verified TLS context of this process (httpx's default: certifi's CA bundle, or
    ``SSL_CERT_FILE``/``SSL_CERT_DIR``). Building one reads the whole CA bundle — about 0.15 s
    of CPU, which each run's two clients would otherwise pay; a context is safe to share."""
    return httpx.create_ssl_context()


class HttpSession:
    """An ``httpx.Client`` wrapped with the retry policy, a rate limiter and request counters."""

    def __init__(
        self,
        *,
        api: str,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy | None = None,
        limiter: Limiter | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        user_agent: str = "learnsync",
        deadline: float = REQUEST_DEADLINE,
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        if deadline <= 0 or max_body_bytes < 1:
            raise ValueError("deadline and max_body_bytes must be positive")
        self.api = api
        self.deadline = deadline
        self.max_body_bytes = max_body_bytes
        self.retry = retry or RetryPolicy()
        self.limiter = limiter
        self.sleep = sleep
        self.clock = clock
        self.request_count = 0
        self.request_counts: Counter[tuple[str, str]] = Counter()
        self._secrets: set[str] = set()
        self._client = httpx.Client(
            transport=transport,
            timeout=timeout,
            headers={"User-Agent": user_agent},
            verify=tls_context(),
        )
        # httpx's own transports (no transport given): every socket operation ends by the deadline
        self.bounded = transport is None and _deadline.bind(self._client)

    # -- secrets -------------------------------------------------------------------------------

    def add_secret(self, value: str | None) -> None:
        """Remember a value that must never appear in a message, a log line or an error body."""
        if value and len(value) >= 4:
            self._secrets.add(value)

    def scrub(self, value: Any) -> Any:
        """``value`` (text, or JSON-like data) with every known secret replaced.

        A container is first checked as a whole: serialized once to JSON (C speed), it can hold a
        secret only if the secret's JSON-escaped form occurs in that text (escaping is per
        character, so a string containing the secret contains its escaped form). Without one it
        is returned as it is: walking a 10,000-result bulk answer in Python cost ~1 s a request.
        """
        if not self._secrets:
            return value
        if isinstance(value, Mapping | list | tuple) and not self._may_hold_secret(value):
            return value
        return self._scrub(value)

    def _may_hold_secret(self, value: Any) -> bool:
        try:
            text = _json.dumps(value, ensure_ascii=False, default=str)
        except (TypeError, ValueError):  # e.g. non-string keys of mixed types: walk it
            return True
        return any(_json.dumps(s, ensure_ascii=False)[1:-1] in text for s in self._secrets)

    def _scrub(self, value: Any) -> Any:
        if isinstance(value, str):
            for secret in sorted(self._secrets, key=len, reverse=True):
                value = value.replace(secret, REDACTED)
            return value
        if isinstance(value, Mapping):
            return {self._scrub(k): self._scrub(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._scrub(v) for v in value]
        return value

    # -- requests ------------------------------------------------------------------------------

    def send(
        self,
        method: str,
        url: str,
        *,
        kind: str,
        idempotent: bool | None = None,
        retry: RetryPolicy | None = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Mapping[str, str] | None = None,
        timeout: httpx.Timeout | float | None = None,
        budget: Budget | None = None,
        deadline: float | None = None,
        max_body_bytes: int | None = None,
    ) -> httpx.Response:
        """Send with retries; return the last response (any status), read in full, or raise
        ApiError (status 0).

        ``kind`` names the route for the counters and the messages (e.g. ``contents``,
        ``bulk_submit``); ``idempotent`` defaults from the method (see
        :mod:`learnsync.http.retry`). The retries wait at most ``policy.max_total_wait`` in
        all, and never past ``budget`` (an outer wait this request is part of: its waits are
        charged to it). Each attempt ends within ``deadline`` seconds and reads at most
        ``max_body_bytes`` (the session's, by default); an answer past the deadline or the limits
        is not retried.
        """
        method = method.upper()
        policy = retry or self.retry
        safe = policy.is_idempotent(method) if idempotent is None else idempotent
        content = None
        if json is not None:  # a 10,000-item bulk body is ~3 MB: the fast encoder
            content = fastjson.dumps(json)
            headers = {**(headers or {}), "Content-Type": "application/json"}
        request = self._client.build_request(
            method,
            url,
            headers=headers,
            params=params,
            content=content,
            data=data,
            timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
        )
        # the retries' own budget is waiting time only (a slow answer is bounded by its deadline)
        waits = (budget.child if budget is not None else self._budget)(
            policy.max_total_wait, wall=False
        )
        attempt = 0
        while True:
            attempt += 1
            if self.limiter is not None:
                self.limiter.acquire(method)
            self.request_count += 1
            self.request_counts[(method, kind)] += 1
            try:
                response = self._attempt(
                    request, kind, deadline or self.deadline, max_body_bytes or self.max_body_bytes
                )
            except httpx.TransportError as exc:
                if (
                    not policy.should_retry(attempt=attempt, idempotent=safe, error=exc)
                    or waits.expired
                ):
                    raise self._transport_failure(method, request, exc, attempt, safe) from None
                wait = min(policy.delay(attempt), waits.remaining())
                log.warning(
                    "%s %s: %s; retry %d in %.1fs",
                    self.api,
                    kind,
                    type(exc).__name__,
                    attempt,
                    wait,
                )
                waits.sleep(wait)
                continue
            if (
                not policy.should_retry(attempt=attempt, idempotent=safe, response=response)
                or waits.expired
            ):
                return response
            wait = min(policy.delay(attempt, response, now=self.clock()), waits.remaining())
            log.warning(
                "%s %s: HTTP %d; retry %d in %.1fs",
                self.api,
                kind,
                response.status_code,
                attempt,
                wait,
            )
            waits.sleep(wait)

    def _attempt(
        self, request: httpx.Request, kind: str, seconds: float, limit: int
    ) -> httpx.Response:
        """One attempt, within ``seconds``: the answer streamed in, at most ``limit`` bytes,
        then closed (its ``content`` is read)."""
        with _deadline.deadline(seconds) as due:
            try:
                response = self._client.send(request, stream=True)
                try:
                    self._read(response, kind, due, limit)
                finally:
                    response.close()
            except httpx.TimeoutException:
                if due.explains_timeout():
                    raise self._too_slow(request, kind, due) from None
                raise
            except httpx.DecodingError as exc:  # e.g. a gzip body that is not gzip
                raise ApiError(
                    self.scrub(
                        f"{self.api} {kind}: the answer to {request.method} {request.url.path} "
                        f"could not be decoded ({exc}). Run again later; if it persists, report "
                        f"it to {self.api}"
                    ),
                    status=0,
                    code="answerUndecodable",
                    api=self.api,
                ) from None
        return response

    def _read(
        self, response: httpx.Response, kind: str, due: _deadline.Deadline, limit: int
    ) -> None:
        """Read the body (decoded), refusing it past ``limit`` bytes or past the deadline
        (checked between chunks too: for a transport whose sockets are not bound), then check
        the shape of a JSON body before anything decodes it."""
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit:
            why = f"announces {_size(int(declared))}, more than {_size(limit)}, the limit of one"
            raise self._refused(response, kind, "answerTooLarge", why + " answer; not read")
        chunks: list[bytes] = []
        for chunk in response.iter_bytes():
            due.received += len(chunk)
            if due.received > limit:
                why = f"is larger than {_size(limit)}, the limit of one answer; not read further"
                raise self._refused(response, kind, "answerTooLarge", why)
            chunks.append(chunk)
            if due.passed():
                raise self._too_slow(response.request, kind, due)
        content = response._content = b"".join(chunks)
        if not _JSON_START.match(content):
            return
        depth, containers = fastjson.shape(content, MAX_JSON_DEPTH)
        if depth is not None and depth > MAX_JSON_DEPTH:
            why = f"nests arrays and objects deeper than {MAX_JSON_DEPTH} levels, the limit"
            raise self._refused(response, kind, "answerTooDeep", why + "; not decoded")
        if containers > MAX_JSON_CONTAINERS:
            why = (
                f"holds {containers:,} arrays and objects, more than {MAX_JSON_CONTAINERS:,}, "
                "the limit of one answer; not decoded"
            )
            raise self._refused(response, kind, "answerTooComplex", why)

    def _refused(self, response: httpx.Response, kind: str, code: str, why: str) -> ApiError:
        request = response.request
        return ApiError(
            self.scrub(
                f"{self.api} {kind}: the answer to {request.method} {request.url.path} "
                f"(HTTP {response.status_code}) {why}. Run again later; if it persists, "
                f"report it to {self.api}"
            ),
            status=0,
            code=code,
            api=self.api,
        )

    def _too_slow(self, request: httpx.Request, kind: str, due: _deadline.Deadline) -> ApiError:
        return ApiError(
            self.scrub(
                f"{self.api} {kind}: {request.method} {request.url.path} did not complete "
                f"within its deadline of {due.seconds:g} s (connect, send and the whole answer; "
                f"{_size(due.received)} of the answer received); the server is too slow or "
                "stalling. Run again later"
            ),
            status=0,
            code="deadlineExceeded",
            api=self.api,
        )

    def _budget(self, seconds: float, *, wall: bool = True) -> Budget:
        return Budget(seconds, clock=self.clock, sleep=self.sleep, wall=wall)

    def _transport_failure(
        self, method: str, request: httpx.Request, exc: Exception, attempts: int, safe: bool
    ) -> ApiError:
        detail = self.scrub(str(exc)) or "no detail"
        why = f"after {attempts} attempt{'s' if attempts > 1 else ''}"
        if not safe and attempts == 1:
            why += " (not retried: the request may have reached the server; repeating is unsafe)"
        return ApiError(
            f"could not complete {method} {request.url.path} on {self.api}: "
            f"{type(exc).__name__} ({detail}) {why}; check the network and run again",
            status=0,
            code=type(exc).__name__,
            api=self.api,
        )

    def close(self) -> None:
        self._client.close()


def decode_body(response: httpx.Response) -> Any:
    """The JSON body, or the text (shortened), or None when empty. Bytes that are not UTF-8
    become U+FFFD (in the JSON's strings too): the rest of the body is still read."""
    content = response.content
    if not content:
        return None
    try:
        return fastjson.loads(content, replace_invalid_utf8=True)
    except ValueError:
        return content[: 4 * _MAX_BODY_TEXT].decode("utf-8", errors="replace")[:_MAX_BODY_TEXT]


def _size(count: int) -> str:
    """``count`` bytes for a message: ``32 MiB``, ``1.5 KiB``, ``12 bytes``."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if count >= scale:
            return f"{count / scale:.4g} {unit}"
    return f"{count} bytes"


def error_code(body: Any) -> str | None:
    """The API's error code from any of the known body shapes.

    360Learning: ``{"error": {"code": …}}`` or ``{"error": "…"}``; Coursera (Naptime):
    ``{"errorCode": …}``; OAuth token endpoints: ``{"error": "invalid_grant"}``.
    """
    if not isinstance(body, Mapping):
        return None
    error = body.get("error")
    if isinstance(error, Mapping) and isinstance(code := error.get("code"), str):
        return code
    if isinstance(error, str):
        return error
    if isinstance(code := body.get("errorCode"), str):
        return code
    return None


def error_text(body: Any) -> str | None:
    """The API's human-readable message, when the body carries one."""
    if not isinstance(body, Mapping):
        return None
    error = body.get("error")
    if isinstance(error, Mapping) and isinstance(message := error.get("message"), str):
        return message
    for key in ("message", "error_description", "errorMessage"):
        if isinstance(text := body.get(key), str):
            return text
    return None
