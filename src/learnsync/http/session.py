"""One HTTP session per API: rate limit, retry, count, and keep secrets out of every message.

Both clients send every request through :meth:`HttpSession.send`, so the retry policy
(:mod:`learnsync.http.retry`) and the rate limits (:mod:`learnsync.http.ratelimit`) apply the same
way everywhere, and ``request_count`` counts what really went over the wire (retries and token
requests included) — the benchmarks read it.

Status codes are *returned*, not raised: what a 401 or a 403 means differs per API, so each client
maps answers to :mod:`learnsync.errors`. Only a transport failure that outlived the retries is
raised here, as :class:`~learnsync.errors.ApiError` with status 0.
"""

from __future__ import annotations

import json as _json
import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from learnsync import fastjson
from learnsync.errors import ApiError
from learnsync.http.ratelimit import RateLimiter
from learnsync.http.retry import RetryPolicy
from learnsync.http.waiting import Budget

log = logging.getLogger("learnsync.http")

REDACTED = "[redacted]"
DEFAULT_TIMEOUT = httpx.Timeout(connect=15.0, read=60.0, write=60.0, pool=30.0)
_MAX_BODY_TEXT = 2000


class HttpSession:
    """An ``httpx.Client`` wrapped with the retry policy, a rate limiter and request counters."""

    def __init__(
        self,
        *,
        api: str,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy | None = None,
        limiter: RateLimiter | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        user_agent: str = "learnsync",
    ) -> None:
        self.api = api
        self.retry = retry or RetryPolicy()
        self.limiter = limiter
        self.sleep = sleep
        self.clock = clock
        self.request_count = 0
        self.request_counts: Counter[tuple[str, str]] = Counter()
        self._secrets: set[str] = set()
        self._client = httpx.Client(
            transport=transport, timeout=timeout, headers={"User-Agent": user_agent}
        )

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
    ) -> httpx.Response:
        """Send with retries; return the last response (any status) or raise ApiError (status 0).

        ``kind`` names the route for the counters (e.g. ``contents``, ``bulk_submit``);
        ``idempotent`` defaults from the method (see :mod:`learnsync.http.retry`). The retries
        wait at most ``policy.max_total_wait`` in all, and never past ``budget`` (an outer wait
        this request is part of: its waits are charged to it).
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
        # the retries' own budget is waiting time only (a slow answer is bounded by its timeout)
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
                response = self._client.send(request)
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
            response.read()
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
            response.close()
            waits.sleep(wait)

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
    """The JSON body, or the text (shortened), or None when empty."""
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return response.text[:_MAX_BODY_TEXT]


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
