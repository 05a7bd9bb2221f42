"""The HTTP layer both API clients share: one retry policy, rate limits, request counters."""

from learnsync.http.ratelimit import RateLimiter, TokenBucket
from learnsync.http.retry import NO_RETRY, RetryPolicy, retry_after
from learnsync.http.session import (
    DEFAULT_TIMEOUT,
    REDACTED,
    HttpSession,
    decode_body,
    error_code,
    error_text,
)

__all__ = [
    "DEFAULT_TIMEOUT",
    "NO_RETRY",
    "REDACTED",
    "HttpSession",
    "RateLimiter",
    "RetryPolicy",
    "TokenBucket",
    "decode_body",
    "error_code",
    "error_text",
    "retry_after",
]
