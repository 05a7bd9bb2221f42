"""Bulk operations: their lifecycle over time and their JSON shapes.

The lifecycle: docs/api-notes.md#bulk-operations.

An operation is ``pending`` for one phase, ``queued`` for the next, ``running`` for the next
(``progress.index`` moving through the input) and then ``completed`` or ``error``. Phases are
measured on the simulator clock (wall time plus whatever tests advanced), so a client must really
poll, and tests stay fast with the default 50 ms phases. The items are applied when an
operation is first seen past its running phase, in creation order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from learnsync import fastjson
from learnsync.sandbox.threesixty.validation import format_ms

OperationType = Literal[
    "importExternalCourses", "archiveExternalCourses", "importExternalStatistics"
]
TERMINAL = ("completed", "error")


@dataclass
class Operation:
    id: str
    type: OperationType
    integration_id: str
    items: list[Any]
    created: float  # simulator seconds
    phase: float  # seconds per phase
    fail: bool = False
    status: str = "pending"
    results: list[dict[str, Any]] | None = None
    error_message: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    results_body: bytes | None = None  # the results as JSON, encoded once (by the worker)

    def phase_at(self, now: float) -> str:
        """The status the timeline gives at ``now`` (terminal status once applied)."""
        if self.status in TERMINAL:
            return self.status
        elapsed = now - self.created
        if elapsed < self.phase:
            return "pending"
        if elapsed < 2 * self.phase:
            return "queued"
        if elapsed < 3 * self.phase:
            return "running"
        return "ended"

    @property
    def is_open(self) -> bool:
        return self.status not in TERMINAL

    def _ms(self, phases: int) -> int:
        return round((self.created + phases * self.phase) * 1000)

    def describe(self, now: float) -> dict[str, Any]:
        """The ``PendingOperationDTO`` … ``ErroredOperationDTO`` for the current status."""
        status = self.phase_at(now)
        if status == "ended":  # its running phase just ended; still running until applied
            status = "running"
        body: dict[str, Any] = {
            "_id": self.id,
            "type": self.type,
            "createdAt": format_ms(self._ms(0)),
            "status": status,
        }
        if status == "pending":
            return body
        body["queuedAt"] = format_ms(self._ms(1))
        if status == "queued":
            return body
        body["startedAt"] = format_ms(self._ms(2))
        last = max(len(self.items) - 1, 0)
        if status == "running":
            share = (now - self.created - 2 * self.phase) / self.phase
            body["progress"] = {
                "index": min(last, int(share * len(self.items))),
                "updatedAt": format_ms(int(now * 1000)),
            }
            return body
        body["endedAt"] = format_ms(self._ms(3))
        body["progress"] = {"index": last, "updatedAt": body["endedAt"]}
        if status == "error":
            body["errorMessage"] = self.error_message
        return body


def success(item: Any, resource_id: str) -> dict[str, Any]:
    return {"input": echo(item), "status": "success", "resourceId": resource_id}


def error(item: Any, message: str) -> dict[str, Any]:
    return {"input": echo(item), "status": "error", "errorMessage": message}


def echo(item: Any) -> dict[str, Any]:
    """Results echo the input object; a non-object item is wrapped (the schema says object)."""
    return item if isinstance(item, dict) else {"value": item}


def results_json(results: list[dict[str, Any]]) -> bytes:
    """The results answer's body, as Starlette's ``JSONResponse`` renders it."""
    return fastjson.dumps(results)
