"""The simulator's one exception: an HTTP answer in 360Learning's exact error shape.

The shapes: docs/api-notes.md#360learning-error-bodies.
"""

from __future__ import annotations

from typing import Any


class ApiFailure(Exception):
    """Raised by the state; the app turns it into ``status`` + JSON ``body`` (+ ``headers``)."""

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body
        self.headers = headers or {}


def failure(status: int, code: str, message: str) -> ApiFailure:
    """The nested ``{"error": {"code", "message"}}`` shape used by 400/403/404/409/429/503."""
    return ApiFailure(status, {"error": {"code": code, "message": message}})


def invalid_token() -> ApiFailure:
    return ApiFailure(401, {"error": "invalid_token"})


def too_many_requests(retry_after: int | None) -> ApiFailure:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
    return ApiFailure(429, {"error": "tooManyRequests"}, headers)
