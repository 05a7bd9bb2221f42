"""What the content diff reads of an item's stored state (met by the store's ``ContentItemState``).

The diff decides from these fields only and never imports the store: it plans with whatever state
objects it is given and hands the same objects back in its plan.
"""

from __future__ import annotations

from typing import Protocol


class ContentState(Protocol):
    """One content item as learnsync last recorded it (read-only; see ``learnsync.diff.content``
    for the values of ``state``)."""

    @property
    def external_id(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def course_id(self) -> str | None: ...
    @property
    def sent_hash(self) -> str | None: ...
    @property
    def language_code(self) -> str | None: ...
    @property
    def content_type(self) -> str | None: ...
    @property
    def in_catalog(self) -> bool: ...
