"""The seam between the pipelines and the API clients, as Protocols.

:class:`CourseraSource` and :class:`ThreeSixtyTarget` are exactly what the pipeline steps
(:mod:`learnsync.extract`, :mod:`learnsync.load`) and the runs of :mod:`learnsync.sync` call on
the source and the target; :class:`CourseraApi` and :class:`ThreeSixtyApi` add the reads of the
setup check (:mod:`learnsync.service.setup`), which goes through the same
:class:`learnsync.sync.context.Clients`. The real clients (:mod:`learnsync.clients`) meet them
structurally — mypy checks it where ``open_clients`` builds them — and so can a fake of a few lines
per method (``tests/test_pipeline_fakes.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any, Literal, Protocol, TypeVar

from learnsync.model.bulk import BulkResult
from learnsync.model.coursera import Content

R = TypeVar("R")

# ``on_page(rows fetched so far, the listing's announced total or None)`` after each page
OnPage = Callable[[int, int | None], None]

# the 360Learning bulk writes the loaders use (docs/api-notes.md#bulk-operations)
BulkKind = Literal["upsert_courses", "archive_courses", "import_stats"]

# one bulk batch as sent, and the result of each of its items (``results[i]`` ↔ ``batch[i]``)
BatchResults = tuple[list[dict[str, Any]], list[BulkResult]]


class TokenSource(Protocol):
    def token(self) -> str:
        """A valid access token (minted, or from the cache); refused credentials raise
        :class:`~learnsync.errors.AuthError`."""
        ...


class CourseraSource(Protocol):
    """The Coursera for Business reads of the pipelines."""

    @property
    def auth(self) -> TokenSource:
        """The content run mints a token first: refused credentials stop it before any write."""
        ...

    def iter_contents(
        self, program_id: str | None = None, *, on_page: OnPage | None = None
    ) -> Iterator[Content]:
        """Every catalog row of the organization (or of ``program_id``), all pages read."""
        ...

    def iter_enrollment_reports(
        self,
        *,
        program_id: str | None,
        include_s12n: bool,
        last_activity_after: datetime | None,
        page_size: int,
        on_page: OnPage | None,
        row_factory: Callable[[dict[str, Any]], R],
        fetch_ahead: bool,
    ) -> Iterator[R]:
        """Every ``enrollmentReports`` row, as ``row_factory(raw JSON object)``."""
        ...

    def close(self) -> None: ...


class ThreeSixtyTarget(Protocol):
    """The 360Learning calls of the pipelines."""

    def find_integration(self, name: str, group_id: str) -> dict[str, Any] | None:
        """The integration ``name`` of ``group_id``, or None (a dry run creates nothing)."""
        ...

    def ensure_integration(
        self, *, name: str, group_id: str, author_id: str, known_id: str | None = None
    ) -> tuple[dict[str, Any], list[str]]:
        """The integration ``name`` of ``group_id``; when missing, the remembered one
        (``known_id``) renamed to it, else a new one; and warnings."""
        ...

    def run_batches(
        self, kind: BulkKind, integration_id: str, batches: Iterable[list[dict[str, Any]]]
    ) -> Iterator[BatchResults]:
        """Submit each batch as bulk ``kind``; yield each with its per-item results, in order.

        A batch that fails alone (its operation ended in ``error``) raises
        :class:`~learnsync.model.bulk.BatchFailed`, whose ``resume`` (optional) goes on; a
        refusal to go on :class:`~learnsync.model.bulk.BulkStopped`; any other failure an
        :class:`~learnsync.errors.ApiError` (or ``AuthError``). docs/waiting.md says what the
        loaders make of each."""
        ...

    def set_course_archived(self, course_id: str, archived: bool) -> dict[str, Any]:
        """``PUT /api/v2/courses/{id}/archive`` (the restore step un-archives with it)."""
        ...

    def archived_course_ids(self, group_id: str) -> set[str]:
        """The ids of the external courses of ``group_id`` that are archived in 360Learning now
        (the reconciliation of an interrupted run reads them, :mod:`learnsync.sync.intents`)."""
        ...

    def close(self) -> None: ...


class CourseraApi(CourseraSource, Protocol):
    """The pipelines' reads plus the setup check's."""

    def get_organization(self) -> dict[str, Any]: ...


class ThreeSixtyApi(ThreeSixtyTarget, Protocol):
    """The pipelines' calls plus the setup check's."""

    @property
    def auth(self) -> TokenSource: ...

    def get_group(self, group_id: str) -> dict[str, Any]: ...

    def get_user(self, user_id: str) -> dict[str, Any]: ...
