"""Extract the Coursera catalog: every page, as tolerant ``Content`` rows."""

from __future__ import annotations

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
    (docs/sync-rules.md#content-that-leaves-coursera).
    """
    return list(client.iter_contents(program_id=program_id, on_page=PageCounter(progress)))
