"""What the Catalog and Statistics pages show, read from the store (no API call, no secret).

Catalog: the synchronized content of one integration (``content_items``), searched by title and
description (the description is in ``payload``, the last ExternalCourseDTO 360Learning accepted),
filtered by language, content type and state, sorted by title, language, type or state (either
way) and paged. The whole integration's items are loaded, filtered and sorted in Python: a catalog
is thousands of rows (5,000 in about 0.1 s), and searching inside a JSON column would need one SQL
dialect per database. Each row links to the course in 360Learning (the platform URL +
:data:`COURSE_PAGE`, from the ``course_id`` 360Learning gave it) and to Coursera (the payload's
``launchUrl``), when known (docs/api-notes.md#course-pages).

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
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

from learnsync.filter.names import language_name
from learnsync.store import ContentItemState, IntegrationRecord, Store

PAGE_SIZE = 50
PAGE_SIZES = (10, 200)  # the smallest and largest page a caller may ask for
# a course's page in the 360Learning web app, after the platform URL (OBSERVED, not in the API
# documentation: docs/api-notes.md#course-pages)
COURSE_PAGE = "/course/play/{course_id}"
# catalog state filter → the stored states it covers, and how the page names it
STATES: dict[str, tuple[tuple[str, ...], str]] = {
    "active": (("active",), "Active"),
    "archived_filter": (("archived_filter",), "Archived by filter"),
    "archived_removed": (("archived_removed",), "Archived (left Coursera)"),
    "skipped": (("skipped",), "Skipped"),
    "failed": (("failed",), "Failed"),
}
STATE_LABELS = {state: label for _, (states, label) in STATES.items() for state in states}
# how a row's state reads as a status chip (present.chip's statuses: tone and icon)
STATE_CHIPS = {
    "active": "succeeded",
    "archived_filter": "cancelled",
    "archived_removed": "cancelled",
    "skipped": "skipped",
    "failed": "failed",
}
_STATE_ORDER = {state: n for n, state in enumerate(STATE_LABELS)}
SORT_DIRECTIONS = ("asc", "desc")


def _title_key(item: ContentItemState) -> tuple[str, str]:
    return ((item.name or item.external_id).casefold(), item.external_id)


# sort key → what orders the rows (ties: by title, then externalId); unknown keys sort by title
SORTS: dict[str, Callable[[ContentItemState], tuple[Any, ...]]] = {
    "title": lambda i: _title_key(i),
    "language": lambda i: (
        i.language_code is None,
        language_name(i.language_code).casefold() if i.language_code else "",
        i.language_code or "",
        *_title_key(i),
    ),
    # the code's order is its name's ("GuidedProject" → "Guided project": web.present)
    "type": lambda i: (i.content_type is None, (i.content_type or "").casefold(), *_title_key(i)),
    "state": lambda i: (_STATE_ORDER.get(i.state, len(_STATE_ORDER)), i.state, *_title_key(i)),
}


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
    language_code: str = ""
    state_chip: str = ""  # the status its chip shows (STATE_CHIPS)
    course_id: str = ""  # 360Learning's id of the course ("" before it was created)
    threesixty_url: str = ""  # the course's page in 360Learning ("" when unknown)
    coursera_url: str = ""  # where the course launches in Coursera ("" when unknown)


@dataclass
class CatalogPage:
    rows: list[CatalogRow] = field(default_factory=list)
    total: int = 0  # matches of the search and filters, all pages
    page: int = 1
    pages: int = 1
    languages: list[tuple[str, str, int]] = field(default_factory=list)  # code, name, count
    content_types: list[tuple[str, int]] = field(default_factory=list)
    states: list[tuple[str, str, int]] = field(default_factory=list)  # key, label, count
    # per state, the items matching the search, language and type (what each state chip shows)
    state_counts: list[tuple[str, str, int]] = field(default_factory=list)
    any_state: int = 0  # items matching the search, language and type, whatever their state
    catalog_total: int = 0  # every item of the catalog
    sort: str = "title"
    direction: str = "asc"
    page_size: int = PAGE_SIZE


def _description(item: ContentItemState) -> str:
    payload = item.payload or {}
    value = payload.get("description")
    return value if isinstance(value, str) else ""


def _matches(item: ContentItemState, words: list[str]) -> bool:
    text = f"{item.name or ''}\n{_description(item)}\n{item.external_id}".casefold()
    return all(word in text for word in words)


def _web_url(value: object) -> str:
    """``value`` when it is an http(s) URL with a host (a link's target), else ""."""
    if not isinstance(value, str):
        return ""
    try:
        parts = urlsplit(value.strip())
    except ValueError:
        return ""
    return value.strip() if parts.scheme in ("http", "https") and parts.netloc else ""


def course_page_url(base_url: str, course_id: str | None) -> str:
    """The course's page in the 360Learning web app ("" without a course id or platform URL)."""
    base = _web_url(base_url).rstrip("/")
    if not base or not course_id:
        return ""
    return base + COURSE_PAGE.format(course_id=quote(course_id, safe=""))


def _row(item: ContentItemState, base_url: str) -> CatalogRow:
    return CatalogRow(
        external_id=item.external_id,
        name=item.name or item.external_id,
        description=_description(item),
        language=language_name(item.language_code) if item.language_code else "",
        content_type=item.content_type or "",
        state=item.state,
        state_label=STATE_LABELS.get(item.state, item.state),
        problem=item.skip_reason or item.last_error or "",
        language_code=item.language_code or "",
        state_chip=STATE_CHIPS.get(item.state, item.state),
        course_id=item.course_id or "",
        threesixty_url=course_page_url(base_url, item.course_id),
        coursera_url=_web_url((item.payload or {}).get("launchUrl")),
    )


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
    sort: str = "title",
    direction: str = "asc",
) -> CatalogPage:
    """One page of the integration's synchronized content matching every given criterion,
    sorted by ``sort`` (title, language, type, state; else title) ``direction`` (asc, desc;
    else asc). ``page`` is kept within the pages there are, ``page_size`` within
    :data:`PAGE_SIZES`."""
    sort = sort if sort in SORTS else "title"
    direction = direction if direction in SORT_DIRECTIONS else "asc"
    page_size = min(max(page_size, PAGE_SIZES[0]), PAGE_SIZES[1])
    if record is None:
        return CatalogPage(sort=sort, direction=direction, page_size=page_size)
    items = list(store.load_content_items(record.id).values())
    result = CatalogPage(
        sort=sort,
        direction=direction,
        page_size=page_size,
        catalog_total=len(items),
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
    # the search, language and type first: the state chips count within them
    matching = [
        i
        for i in items
        if (not language or i.language_code == language)
        and (not content_type or i.content_type == content_type)
        and (not words or _matches(i, words))
    ]
    result.any_state = len(matching)
    per_state = Counter(i.state for i in matching)
    result.state_counts = [
        (key, label, sum(per_state[s] for s in covered)) for key, (covered, label) in STATES.items()
    ]
    found = [i for i in matching if wanted_states is None or i.state in wanted_states]
    found.sort(key=SORTS[sort], reverse=direction == "desc")
    result.total = len(found)
    result.pages = max(1, -(-len(found) // page_size))
    result.page = min(max(1, page), result.pages)
    start = (result.page - 1) * page_size
    result.rows = [_row(i, record.base_url) for i in found[start : start + page_size]]
    return result


@dataclass
class TopCourse:
    external_id: str
    name: str
    completions: int
    learners: int
    threesixty_url: str = ""  # the course's page in 360Learning ("" when unknown)


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
    result.top_courses = []
    for course in summary.top_courses:
        known = items.get(course.external_id)
        result.top_courses.append(
            TopCourse(
                course.external_id,
                (known.name if known is not None else None) or course.external_id,
                course.completions,
                course.learners,
                course_page_url(record.base_url, known.course_id if known else None),
            )
        )
    return result
