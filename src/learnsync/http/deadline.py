"""A deadline for one whole attempt of a request: connect, send, the answer's headers and body.

httpx's timeouts bound each socket operation (``read=60`` is the longest *silence*): a server
that sends one byte every few seconds never trips them, and a body could take days. The session
(:class:`~learnsync.http.session.HttpSession`) sets a deadline around each attempt
(:func:`deadline`, a context variable: per thread, so a page fetched ahead in a worker thread has
its own); the network backend of its client's transports (:func:`bind`) cuts the timeout of
every connect, read and write to what is left of it. The attempt then fails at its deadline with
httpx's ``ConnectTimeout``/``ReadTimeout``/``WriteTimeout``, which the session reports as the
deadline. A transport given by the caller (tests, in-process simulators) is not changed: for
those the session checks the deadline between the chunks of the body instead.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import httpcore
import httpx


class Deadline:
    """``seconds`` from its start, ``at`` on ``time.monotonic()``. ``cut``: the last socket
    operation was given what was left of the deadline as its timeout (less than its own), so a
    timeout it raises is the deadline's, not a silence's. ``received``: bytes of the answer read
    so far (for the message)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds
        self.cut = False
        self.received = 0

    def passed(self) -> bool:
        return time.monotonic() >= self.at

    def explains_timeout(self) -> bool:
        """Whether a timeout this attempt just raised is the deadline's."""
        return self.cut or self.passed()


_DEADLINE: ContextVar[Deadline | None] = ContextVar("learnsync_http_deadline", default=None)


@contextmanager
def deadline(seconds: float) -> Iterator[Deadline]:
    """Socket operations of this thread (of a bound client) end within ``seconds`` from now."""
    current = Deadline(seconds)
    token = _DEADLINE.set(current)
    try:
        yield current
    finally:
        _DEADLINE.reset(token)


def _cut(timeout: float | None, error: type[httpcore.TimeoutException]) -> float | None:
    current = _DEADLINE.get()
    if current is None:
        return timeout
    left = current.at - time.monotonic()
    current.cut = left <= 0 or timeout is None or left < timeout
    if left <= 0:
        raise error("the deadline of the request has passed")
    return left if current.cut else timeout


class _Stream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _cut(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _cut(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self,
        ssl_context: Any,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        tls = self._stream.start_tls(
            ssl_context, server_hostname, _cut(timeout, httpcore.ConnectTimeout)
        )
        return _Stream(tls)

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    def __init__(self, backend: httpcore.NetworkBackend) -> None:
        self._backend = backend

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        stream = self._backend.connect_tcp(
            host, port, _cut(timeout, httpcore.ConnectTimeout), local_address, socket_options
        )
        return _Stream(stream)

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        stream = self._backend.connect_unix_socket(
            path, _cut(timeout, httpcore.ConnectTimeout), socket_options
        )
        return _Stream(stream)

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


def bind(client: httpx.Client) -> bool:
    """Bound the sockets of ``client``'s own transports (its default one and those of the
    proxies it took from the environment) by the deadline; False when there was none to bound
    (a transport given by the caller, or a future httpx that lays its pools out differently:
    the session's check between chunks still applies, and a test notices)."""
    transports = [getattr(client, "_transport", None), *getattr(client, "_mounts", {}).values()]
    bound = False
    for each in transports:
        if not isinstance(each, httpx.HTTPTransport):
            continue
        pool = getattr(each, "_pool", None)
        backend = getattr(pool, "_network_backend", None)
        if isinstance(backend, _Backend):
            bound = True
        elif isinstance(backend, httpcore.NetworkBackend):
            pool._network_backend = _Backend(backend)  # type: ignore[union-attr]
            bound = True
    return bound
