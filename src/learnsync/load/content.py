"""Load content changes into 360Learning: bulk upsert, bulk archive, and un-archive (restore)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from learnsync.diff.content import Upsert
from learnsync.errors import ApiError, AuthError, ConfigError
from learnsync.load.bulk import ARCHIVE_LIMIT, UPSERT_LIMIT, Outcome, run_bulk
from learnsync.model.ports import ThreeSixtyTarget


def _external_id(item: Mapping[str, Any]) -> str:
    return str(item["externalId"])


def upsert_courses(
    client: ThreeSixtyTarget,
    integration_id: str,
    upserts: Iterable[Upsert],
    on_batch: Callable[[int], None] | None = None,
    into: dict[str, Outcome] | None = None,
) -> dict[str, Outcome]:
    """Bulk upsert (≤ 10,000 per request); ``resource_id`` of a success is the courseId.

    The rule of :mod:`learnsync.load.bulk`: a failed operation fails its own batch; when
    360Learning refuses to go on, an ``ApiError`` after the outcomes of what was sent."""
    items = [u.course.payload for u in upserts]
    return run_bulk(
        client,
        "upsert_courses",
        integration_id,
        items,
        size=UPSERT_LIMIT,
        key=_external_id,
        on_batch=on_batch,
        into=into,
        noun="courses",
    )


def archive_courses(
    client: ThreeSixtyTarget,
    integration_id: str,
    external_ids: Iterable[str],
    on_batch: Callable[[int], None] | None = None,
    into: dict[str, Outcome] | None = None,
) -> dict[str, Outcome]:
    """Bulk archive (≤ 1,000 per request), under the same rule as :func:`upsert_courses`."""
    items = [{"externalId": external_id} for external_id in external_ids]
    return run_bulk(
        client,
        "archive_courses",
        integration_id,
        items,
        size=ARCHIVE_LIMIT,
        key=_external_id,
        on_batch=on_batch,
        into=into,
        noun="courses",
    )


def unarchive_courses(
    client: ThreeSixtyTarget,
    course_ids: Mapping[str, str],
    on_item: Callable[[int], None] | None = None,
    into: dict[str, Outcome] | None = None,
) -> dict[str, Outcome]:
    """Un-archive each ``{externalId: courseId}``: ``PUT /api/v2/courses/{id}/archive``."""
    outcomes: dict[str, Outcome] = {} if into is None else into
    for external_id, course_id in course_ids.items():
        try:
            client.set_course_archived(course_id, False)
        except (AuthError, ConfigError):
            raise
        except ApiError as exc:
            outcomes[external_id] = Outcome(
                external_id, False, error=f"restore failed: {exc.message}"
            )
        else:
            outcomes[external_id] = Outcome(external_id, True, resource_id=course_id)
        if on_item is not None:
            on_item(1)
    return outcomes
