"""The HTTP layer both API clients share: one retry policy, rate limits, request counters, and
the limits on what an upstream may send (size, time, JSON shape)."""

from learnsync.http.ratelimit import RateLimiter, TokenBucket
from learnsync.http.retry import NO_RETRY, RetryPolicy, retry_after
from learnsync.http.session import (
    DEFAULT_TIMEOUT,
    MAX_BODY_BYTES,
    MAX_JSON_CONTAINERS,
    MAX_JSON_DEPTH,
    REDACTED,
    REQUEST_DEADLINE,
    HttpSession,
    decode_body,
    error_code,
    error_text,
)

__all__ = [
    "DEFAULT_TIMEOUT",
    "MAX_BODY_BYTES",
    "MAX_JSON_CONTAINERS",
    "MAX_JSON_DEPTH",
    "NO_RETRY",
    "REDACTED",
    "REQUEST_DEADLINE",
    "HttpSession",
    "RateLimiter",
    "RetryPolicy",
    "TokenBucket",
    "decode_body",
    "error_code",
    "error_text",
    "retry_after",
]
