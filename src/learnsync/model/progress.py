"""How a pipeline tells a runner how far it got (a progress bar, a web page, nothing)."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    def stage(self, name: str, total: int | None = None) -> None:
        """A new stage starts (``total`` units, when known)."""

    def advance(self, units: int = 1, total: int | None = None) -> None:
        """``units`` more done in the current stage (``total`` updated when it becomes known)."""


class NoProgress:
    def stage(self, name: str, total: int | None = None) -> None:
        pass

    def advance(self, units: int = 1, total: int | None = None) -> None:
        pass
