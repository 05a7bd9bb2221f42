"""Serve an ASGI app with uvicorn on a background thread (tests, e2e runs, ``sandbox serve``).

Only a real server can show what an in-process transport cannot: dropped connections, socket
timeouts, real headers. The socket is bound *before* the server starts, so the port is known at
once (``port=0`` picks a free one) and nothing races for it; the context manager returns only when
uvicorn reports that it is accepting connections, and stops the server cleanly on exit.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import uvicorn
from starlette.types import ASGIApp


class ServerThread:
    """A uvicorn server on a daemon thread; :meth:`start` blocks until it serves."""

    def __init__(
        self, app: ASGIApp, host: str = "127.0.0.1", port: int = 0, *, log_level: str = "warning"
    ) -> None:
        self._sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))
        self.host = host
        self.port: int = self._sock.getsockname()[1]
        config = uvicorn.Config(app, log_level=log_level, lifespan="off", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self, timeout: float = 10.0) -> str:
        """Start serving and wait until uvicorn is accepting connections; returns the base URL."""
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the sandbox server thread stopped before it started serving")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the sandbox server did not start within {timeout} s")
            time.sleep(0.01)
        return self.base_url

    def stop(self, timeout: float = 10.0) -> None:
        """Ask uvicorn to exit, wait for the thread, and release the socket."""
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout)
        if self._thread.is_alive():  # connections still open past the grace period
            self._server.force_exit = True
            self._thread.join(timeout)
        self._sock.close()


@contextmanager
def serve_in_thread(
    app: ASGIApp, host: str = "127.0.0.1", port: int = 0, *, log_level: str = "warning"
) -> Iterator[str]:
    """``with serve_in_thread(app) as base_url: ...`` — a real loopback server for the block."""
    server = ServerThread(app, host, port, log_level=log_level)
    server.start()
    try:
        yield server.base_url
    finally:
        server.stop()


def run_in_thread(
    app: ASGIApp, host: str = "127.0.0.1", port: int = 0
) -> tuple[str, Callable[[], None]]:
    """Start serving; returns ``(base_url, stop)`` for callers that cannot use a ``with`` block."""
    server = ServerThread(app, host, port)
    return server.start(), server.stop
