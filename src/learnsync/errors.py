"""The one exception tree of learnsync.

Every error a user can act on carries a message that says what to do. The command line maps
each class to an exit status (docs/contract.md#exit-status): 2 configuration or usage,
3 authentication or authorization refused by either API, 1 anything else.
"""

from __future__ import annotations

from typing import Any


class LearnsyncError(Exception):
    """Base class. ``exit_code`` is what the command line exits with."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(LearnsyncError):
    """The configuration file or the command line is wrong (exit 2)."""

    exit_code = 2


class StoreError(LearnsyncError):
    """The store (the database) cannot be used: unreachable, locked, read-only, full, or a
    schema learnsync cannot upgrade (exit 1)."""

    exit_code = 1


class AuthError(LearnsyncError):
    """Authentication or authorization refused by Coursera or 360Learning (exit 3)."""

    exit_code = 3


class ApiError(LearnsyncError):
    """An API answered with an error that retrying did not fix (exit 1).

    ``status`` is the HTTP status (0 for a transport failure), ``code`` the API's error code
    when its body carried one, ``body`` the decoded body (never containing our secrets).
    """

    def __init__(
        self,
        message: str,
        *,
        status: int = 0,
        code: str | None = None,
        body: Any = None,
        api: str = "",
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.body = body
        self.api = api


class PagingError(ApiError):
    """A paging cursor that does not advance, or pages that contradict their total."""


class BulkOperationError(ApiError):
    """A 360Learning bulk operation ended in ``error`` as a whole."""


class FinishedWithError(LearnsyncError):
    """The run did all it could and its report must still be written (``report``), but part of
    it failed in a way that exits 1 (docs/contract.md#exit-status)."""

    exit_code = 1

    def __init__(self, message: str, *, report: Any = None) -> None:
        super().__init__(message)
        self.report = report


class GuardError(FinishedWithError):
    """A safety guard refused part of a run (the 20 % archive guard without ``--force``).

    ``report`` is the run's report: the rest of the run was done and must still be written.
    """


class OperationsFailed(FinishedWithError):
    """360Learning bulk operations failed as a whole (ended in ``error``): their items are in the
    report's failed list and the next run sends them again; the rest of the run was done."""


class RunCancelled(LearnsyncError):
    """The run was cancelled while it ran; it stops at its next progress step (exit 1)."""
