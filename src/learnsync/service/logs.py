"""Structured JSON logs: one object per line, with the integration and the run when known.

A run sets :func:`run_context` around its pipeline; :class:`RunContextFilter` stamps every record
logged inside it (by any logger: pipelines, clients, store) with ``integration``, ``run`` and
``kind``. A context variable reaches the run's own thread; a pipeline's helper threads (the
statistics reader, bulk requests in flight) do not inherit it, so when exactly one run is going
in this process their lines are stamped with that run too. With several runs at once, a helper
thread's line carries no run rather than a wrong one.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import IO, Any

_FIELDS = ("integration", "run", "kind")
_CURRENT: contextvars.ContextVar[dict[str, object] | None] = contextvars.ContextVar(
    "learnsync_run", default=None
)
_ACTIVE: dict[int, dict[str, object]] = {}
_ACTIVE_LOCK = threading.Lock()


@contextlib.contextmanager
def run_context(integration: int, run: int, kind: str) -> Iterator[None]:
    """Every log line inside the block (this thread, or any thread when it is the only run)
    names this integration and run."""
    fields: dict[str, object] = {"integration": integration, "run": run, "kind": kind}
    token = _CURRENT.set(fields)
    with _ACTIVE_LOCK:
        _ACTIVE[run] = fields
    try:
        yield
    finally:
        with _ACTIVE_LOCK:
            _ACTIVE.pop(run, None)
        _CURRENT.reset(token)


def current_run() -> dict[str, object] | None:
    fields = _CURRENT.get()
    if fields is not None:
        return fields
    with _ACTIVE_LOCK:
        if len(_ACTIVE) == 1:
            return next(iter(_ACTIVE.values()))
    return None


class RunContextFilter(logging.Filter):
    """Adds the current run's fields to a record that does not carry them already."""

    def filter(self, record: logging.LogRecord) -> bool:
        fields = current_run()
        if fields is not None:
            for name, value in fields.items():
                if getattr(record, name, None) is None:
                    setattr(record, name, value)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in _FIELDS:
            entry[name] = getattr(record, name, None)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def json_handler(stream: IO[str] | None = None) -> logging.Handler:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RunContextFilter())
    return handler


def configure_json_logging(level: int = logging.INFO) -> None:
    logging.basicConfig(level=level, handlers=[json_handler()], force=True)
    # request lines of httpx carry URLs with query strings: keep them out
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
