"""What the Catalog and Statistics pages show, read from the store (no API call, no secret).

Catalog: the synchronized content of one integration (``content_items``), searched by title and
description (the description is in ``payload``, the last ExternalCourseDTO 360Learning accepted)
and filtered by language, content type and state. The whole integration's items are loaded and
filtered in Python: a catalog is thousands of rows, and searching inside a JSON column would need
one SQL dialect per database.

Statistics (``stat_items``), over the last ``days`` UTC days:

- *completions per day*: pairs whose completion learnsync first saw that day
  (``completed_seen_at`` — the store keeps no Coursera completion date);
- *active learners per day*: distinct learners whose statistics changed that day (``updated_at``:
  the store rewrites a pair only when what is sent for it changes);
- *top courses*: the most completed courses (``sent_completed``), with their titles;
- *unmatched learners*: :func:`learnsync.sync.unmatched.unmatched_learners` when present.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from learnsync.filter.names import language_name
from learnsync.store import ContentItemState, IntegrationRecord, Store

PAGE_SIZE = 50
# catalog state filter → the stored states it covers, and how the page names it
STATES: dict[str, tuple[tuple[str, ...], str]] = {
    "active": (("active",), "Active"),
    "archived_filter": (("archived_filter",), "Archived by filter"),
    "archived_removed": (("archived_removed",), "Archived (left Coursera)"),
    "skipped": (("skipped",), "Skipped"),
    "failed": (("failed",), "Failed"),
}
STATE_LABELS = {state: label for _, (states, label) in STATES.items() for state in states}


@dataclass
class CatalogRow:
    external_id: str
    name: str
    description: str
    language: str
    content_type: str
    state: str
    state_label: str
    problem: str  # skip reason or last error, "" when none


@dataclass
class CatalogPage:
    rows: list[CatalogRow] = field(default_factory=list)
    total: int = 0  # matches of the search and filters, all pages
    page: int = 1
    pages: int = 1
    languages: list[tuple[str, str, int]] = field(default_factory=list)  # code, name, count
    content_types: list[tuple[str, int]] = field(default_factory=list)
    states: list[tuple[str, str, int]] = field(default_factory=list)  # key, label, count


def _description(item: ContentItemState) -> str:
    payload = item.payload or {}
    value = payload.get("description")
    return value if isinstance(value, str) else ""


def _matches(item: ContentItemState, words: list[str]) -> bool:
    text = f"{item.name or ''}\n{_description(item)}\n{item.external_id}".casefold()
    return all(word in text for word in words)


def catalog(
    store: Store,
    record: IntegrationRecord | None,
    *,
    query: str = "",
    language: str = "",
    content_type: str = "",
    state: str = "",
    page: int = 1,
    page_size: int = PAGE_SIZE,
) -> CatalogPage:
    """One page of the integration's synchronized content matching every given criterion."""
    if record is None:
        return CatalogPage()
    items = list(store.load_content_items(record.id).values())
    result = CatalogPage(
        languages=sorted(
            (
                (code, language_name(code), n)
                for code, n in Counter(i.language_code for i in items if i.language_code).items()
            ),
            key=lambda t: (t[1].lower(), t[0]),
        ),
        content_types=sorted(Counter(i.content_type for i in items if i.content_type).items()),
        states=[
            (key, label, sum(1 for i in items if i.state in covered))
            for key, (covered, label) in STATES.items()
        ],
    )
    words = [w for w in query.casefold().split() if w]
    wanted_states = STATES[state][0] if state in STATES else None
    found = [
        i
        for i in items
        if (not language or i.language_code == language)
        and (not content_type or i.content_type == content_type)
        and (wanted_states is None or i.state in wanted_states)
        and (not words or _matches(i, words))
    ]
    found.sort(key=lambda i: ((i.name or "").casefold(), i.external_id))
    result.total = len(found)
    result.pages = max(1, -(-len(found) // page_size))
    result.page = min(max(1, page), result.pages)
    start = (result.page - 1) * page_size
    result.rows = [
        CatalogRow(
            external_id=i.external_id,
            name=i.name or i.external_id,
            description=_description(i),
            language=language_name(i.language_code) if i.language_code else "",
            content_type=i.content_type or "",
            state=i.state,
            state_label=STATE_LABELS.get(i.state, i.state),
            problem=i.skip_reason or i.last_error or "",
        )
        for i in found[start : start + page_size]
    ]
    return result


@dataclass
class TopCourse:
    external_id: str
    name: str
    completions: int
    learners: int


@dataclass
class Statistics:
    days: list[date] = field(default_factory=list)
    completions: list[int] = field(default_factory=list)  # per day, aligned with ``days``
    active_learners: list[int] = field(default_factory=list)
    top_courses: list[TopCourse] = field(default_factory=list)
    pairs: int = 0  # (course, learner) pairs known
    sent: int = 0
    skipped: int = 0
    failed: int = 0
    unmatched: list[Any] = field(default_factory=list)  # UnmatchedLearner
    unmatched_available: bool = True

    def completion_points(self) -> list[tuple[str, int]]:
        return [(d.isoformat(), n) for d, n in zip(self.days, self.completions, strict=True)]

    def learner_points(self) -> list[tuple[str, int]]:
        return [(d.isoformat(), n) for d, n in zip(self.days, self.active_learners, strict=True)]


def statistics(
    store: Store, record: IntegrationRecord | None, now: datetime, *, days: int = 30, top: int = 10
) -> Statistics:
    """The integration's statistics over the last ``days`` UTC days ending today."""
    today = now.date()
    result = Statistics(days=[today - timedelta(days=n) for n in range(days - 1, -1, -1)])
    result.completions = [0] * days
    result.active_learners = [0] * days
    if record is None:
        return result
    index = {d: n for n, d in enumerate(result.days)}
    since = datetime.combine(result.days[0], datetime.min.time(), tzinfo=now.tzinfo)
    summary = store.stat_summary(record.id, since, top=top)
    result.sent = summary.pairs_by_state.get("sent", 0)
    result.skipped = summary.pairs_by_state.get("skipped", 0)
    result.failed = summary.pairs_by_state.get("failed", 0)
    result.pairs = sum(summary.pairs_by_state.values())
    for day, count in summary.completions_by_day.items():
        if day in index:
            result.completions[index[day]] = count
    for day, count in summary.active_learners_by_day.items():
        if day in index:
            result.active_learners[index[day]] = count
    items = store.load_content_items(record.id) if summary.top_courses else {}
    result.top_courses = [
        TopCourse(
            course.external_id,
            (items[course.external_id].name if course.external_id in items else None)
            or course.external_id,
            course.completions,
            course.learners,
        )
        for course in summary.top_courses
    ]
    return result
