"""Extract the Coursera catalog: every page, as tolerant ``Content`` rows.

The rows' strings are already cleaned by the model's converters (docs/security.md#untrusted-text);
an element of a page that is not a JSON object becomes an empty ``Content`` (skipped
``missing_id``, counted in the run's warning), never silently lost
(:mod:`learnsync.extract.elements`).
"""

from __future__ import annotations

from learnsync.extract.elements import with_non_objects
from learnsync.model.coursera import Content
from learnsync.model.ports import CourseraSource
from learnsync.model.progress import Progress


class PageCounter:
    """Turns the client's ``on_page(fetched_so_far, total)`` into progress advances."""

    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress
        self.done = 0

    def __call__(self, fetched: int, total: int | None) -> None:
        if self.progress is not None:
            self.progress.advance(fetched - self.done, total=total)
        self.done = fetched


def extract_catalog(
    client: CourseraSource, *, program_id: str | None = None, progress: Progress | None = None
) -> list[Content]:
    """All content available to the organization (or to ``program_id``), every page read.

    A paging failure raises: archiving decisions need a complete catalog
    (docs/sync-rules.md#content-that-leaves-coursera). Each element that is not a JSON object is
    an empty ``Content`` at the end of the list.
    """
    return list(
        with_non_objects(
            lambda on_page: client.iter_contents(program_id=program_id, on_page=on_page),
            Content,
            PageCounter(progress),
        )
    )
