"""Fault injection shared by both simulators, scriptable per route from tests.

A :class:`FaultPlan` holds rules; :class:`FaultMiddleware` applies the first rule that matches a
request (method and path regex) before the request reaches the simulator. Kinds:

- ``status``: answer ``status`` with ``body`` (JSON) and ``headers`` (e.g. ``Retry-After``);
- ``slow``: wait ``delay`` seconds, then serve the request normally;
- ``drop``: start a response and close the connection before its body is complete, so the client
  sees a dropped connection (``httpx.RemoteProtocolError``).

Each rule affects ``times`` matching requests (``-1``: until cleared) and may ``skip`` the first
matching ones (a fault on the third page, say). Rules are added in-process
(``plan.add(Fault(...))``) or over HTTP with ``POST /_sandbox/faults`` (body: the rule's fields),
cleared with ``DELETE /_sandbox/faults``; ``GET /_sandbox/faults`` lists them with their counts.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from starlette.types import ASGIApp, Message, Receive, Scope, Send

FaultKind = Literal["status", "slow", "drop"]


@dataclass
class Fault:
    path: str = ".*"
    method: str | None = None
    kind: FaultKind = "status"
    status: int = 500
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    times: int = 1
    skip: int = 0
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method.upper() != method.upper():
            return False
        return re.search(self.path, path) is not None


class FaultPlan:
    """Thread-safe list of fault rules; the first rule that matches and still has uses wins."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def describe(self) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(f) for f in self._faults]

    def take(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.times == 0 or not fault.matches(method, path):
                    continue
                if fault.skip > 0:
                    fault.skip -= 1
                    continue
                if fault.times > 0:
                    fault.times -= 1
                fault.hits += 1
                return fault
        return None


_ADMIN_PREFIX = "/_sandbox/"


class FaultMiddleware:
    """ASGI middleware applying a :class:`FaultPlan`; admin routes (``/_sandbox/``) are exempt."""

    def __init__(self, app: ASGIApp, plan: FaultPlan) -> None:
        self.app = app
        self.plan = plan

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(_ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        fault = self.plan.take(scope["method"], scope["path"])
        if fault is None:
            await self.app(scope, receive, send)
            return
        if fault.kind == "slow":
            await asyncio.sleep(fault.delay)
            await self.app(scope, receive, send)
            return
        if fault.kind == "drop":
            await _drop(send)
            return
        await _answer(send, fault)


async def _answer(send: Send, fault: Fault) -> None:
    body = b"" if fault.body is None else json.dumps(fault.body).encode()
    headers = [(b"content-type", b"application/json")] if body else []
    headers += [(k.lower().encode(), str(v).encode()) for k, v in fault.headers.items()]
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": fault.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _drop(send: Send) -> None:
    """Promise a body, send part of it, and stop: the server then closes the connection."""
    start: Message = {
        "type": "http.response.start",
        "status": 200,
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"1000")],
    }
    await send(start)
    await send({"type": "http.response.body", "body": b'{"elements": [', "more_body": False})
