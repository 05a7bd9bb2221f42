"""What a request may carry: a bounded body, ids that fit the database.

Bodies: :class:`BodyLimitMiddleware` (pure ASGI, outside everything that parses) refuses with
413 a body larger than its route's limit — at once from ``Content-Length``, before the
application runs or a byte of the body is read; a body without ``Content-Length`` (chunked) is
counted as it arrives and refused as soon as it goes past the limit. Nothing is buffered here.

Ids: every ``{..._id}`` of a route is ``{..._id:id}``, the :class:`IdConvertor` (1 to 18 digits,
below 2^63), so an id that no table can hold matches no route: 404, never a database error.
"""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import Path
from starlette.convertors import Convertor, register_url_convertor
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from learnsync.service.importing import MAX_BYTES as IMPORT_FILE_MAX_BYTES

KIB = 1024

#: ``POST /login``: a user name, a password and a CSRF token (a few hundred bytes); an
#: anonymous client may send no more than this.
LOGIN_BODY_LIMIT = 8 * KIB
#: ``POST /import``: the config file (at most :data:`IMPORT_FILE_MAX_BYTES`, 64 KiB, checked
#: again by the import) plus the multipart framing, the name and the CSRF token.
IMPORT_BODY_LIMIT = IMPORT_FILE_MAX_BYTES + 16 * KIB
#: Every other route: forms and JSON bodies of a few KiB at most.
DEFAULT_BODY_LIMIT = 1024 * KIB
BODY_LIMITS = {"/login": LOGIN_BODY_LIMIT, "/import": IMPORT_BODY_LIMIT}


def body_limit(path: str) -> int:
    """The most bytes a request body to ``path`` (the ASGI scope's path) may have."""
    return BODY_LIMITS.get(path, DEFAULT_BODY_LIMIT)


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` when a body without ``Content-Length`` goes past its limit: an
    HTTPException, so FastAPI's body parsing passes it on and the app answers 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, too_large(limit))


def too_large(limit: int) -> str:
    return f"request body too large: at most {limit // KIB} KiB here"


class BodyLimitMiddleware:
    """Caps request bodies by route (:func:`body_limit`) before anything parses them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = body_limit(str(scope.get("path", "")))
        declared = Headers(scope=scope).getlist("content-length")
        if declared:
            if len(set(declared)) > 1 or not (declared[0].isascii() and declared[0].isdigit()):
                await _answer(send, 400, "invalid Content-Length")
                return
            if int(declared[0]) > limit:
                await _answer(send, 413, too_large(limit))  # the body is never read
                return
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge:
            # raised where no exception handler answered it (e.g. read by a middleware)
            if started:
                raise
            await _answer(send, 413, too_large(limit))


async def _answer(send: Send, status: int, detail: str) -> None:
    """One short JSON line; the connection closes after it (uvicorn: the unread body)."""
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


#: The largest id a route accepts: 18 digits, so below 2^63 (a signed 64-bit column).
ID_MAX = 10**18 - 1


class IdConvertor(Convertor[int]):
    """``{name:id}``: a row id of 1 to 18 digits. A longer or signed one matches no route (404),
    so it never reaches the database (SQLite and PostgreSQL keep 64-bit integers)."""

    regex = "[0-9]{1,18}"

    def convert(self, value: str) -> int:
        return int(value)

    def to_string(self, value: int) -> str:
        if not 0 <= int(value) <= ID_MAX:
            raise ValueError(f"not a row id: {value}")
        return str(int(value))


register_url_convertor("id", IdConvertor())

#: A path id as the OpenAPI document describes it (the convertor already bounds it).
RowId = Annotated[int, Path(ge=0, le=ID_MAX)]
