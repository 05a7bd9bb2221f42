"""The Languages and Content types pages (the article's Step 4): what they show, what a save
would archive and restore, and the save.

A save is planned from the store (:func:`learnsync.sync.filters.preview_from_store`: the stored
item states, no request to either API — the counts a dry run reports, in a fraction of its time),
and done by a ``filters`` run submitted to the queue: the request returns at once and the page
follows the run's row (``done``/``total``) until it ends. Nothing here writes but
:func:`save`, and only through ``service.runs.start``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from learnsync.errors import ConfigError, LearnsyncError
from learnsync.filter.names import language_name
from learnsync.filter.rules import Filters
from learnsync.service.core import Service
from learnsync.service.setup import form_words
from learnsync.store.records import ContentItemState
from learnsync.sync.filters import FilterPreview, preview_from_store, show_filters
from learnsync.web.present import content_type_name, language_label, plural

WHICH = ("languages", "content_types")
PAGES = {"languages": "languages", "content_types": "content-types"}
TITLES = 100  # course titles a preview answer carries at once (the dialog asks for more)
MAX_TITLES = 1000
PAGE_TITLES = 500  # course titles the confirmation page (without JavaScript) lists


@dataclass
class FilterChoice:
    code: str
    name: str
    count: int
    selected: bool


@dataclass
class FiltersPage:
    filters: Filters
    languages: list[FilterChoice] = field(default_factory=list)
    content_types: list[FilterChoice] = field(default_factory=list)
    error: str = ""
    catalog_source: str = "store"


def filters_view(service: Service, integration_id: int) -> FiltersPage:
    """The saved filters and every choice with its count of catalog items (a chosen value no
    item has is listed too, with 0): languages by name, content types by their friendly name."""
    try:
        view = show_filters(service.integrations.config(integration_id))
    except LearnsyncError as exc:
        return FiltersPage(Filters(), error=form_words(exc.message))
    f = view.filters
    languages = {**dict.fromkeys(f.languages, 0), **view.languages}
    kinds = {**dict.fromkeys(f.content_types, 0), **view.content_types}
    return FiltersPage(
        f,
        languages=sorted(
            (FilterChoice(c, language_name(c), n, c in f.languages) for c, n in languages.items()),
            key=lambda c: (c.name.lower(), c.code),
        ),
        content_types=sorted(
            (
                FilterChoice(k, content_type_name(k), n, k in f.content_types)
                for k, n in kinds.items()
            ),
            key=lambda c: (c.name.lower(), c.code),
        ),
        catalog_source=view.catalog_source,
    )


def which_of(raw: str) -> str:
    """The filter a form changes: ``languages`` (the default) or ``content_types``."""
    return "content_types" if raw in ("content_types", "content-types") else "languages"


def page_path(integration_id: int, which: str) -> str:
    return f"/integrations/{integration_id}/{PAGES[which_of(which)]}"


def form_change(which: str, values: Iterable[str]) -> dict[str, list[str]]:
    """A page's form as a change: the one filter it shows, replaced by ``values``."""
    return {which_of(which): [str(v) for v in values if str(v).strip()]}


def chosen(
    service: Service,
    integration_id: int,
    *,
    languages: list[str] | None = None,
    content_types: list[str] | None = None,
) -> Filters:
    """The filters a save would store: each filter given replaces the saved one, the other is
    kept (``None``). An empty value is a :class:`ConfigError`, as on the command line."""
    saved = saved_filters(service, integration_id)
    for value in [*(languages or []), *(content_types or [])]:
        if not value.strip():
            raise ConfigError("filter values must not be empty")
    return Filters(
        frozenset(v.strip() for v in languages) if languages is not None else saved.languages,
        frozenset(v.strip() for v in content_types)
        if content_types is not None
        else saved.content_types,
    )


def saved_filters(service: Service, integration_id: int) -> Filters:
    record = service.store.get_integration(integration_id)
    if record is None:
        return Filters()
    return Filters(frozenset(record.languages), frozenset(record.content_types))


def preview(service: Service, integration_id: int, filters: Filters) -> FilterPreview:
    """What saving ``filters`` would do, from the store (no API request: fast at any size)."""
    return preview_from_store(service.store, integration_id, filters)


def summary(archive: int, restore: int) -> str:
    """``112 courses will be archived, 3 restored.``"""
    return f"{plural(archive, 'course')} will be archived, {restore:,} restored."


def confirm_label(archive: int, restore: int) -> str:
    """The confirmation's button: says what it does (``Archive 112 courses and save``)."""
    if archive and restore:
        return f"Archive {plural(archive, 'course')}, restore {restore:,} and save"
    if archive:
        return f"Archive {plural(archive, 'course')} and save"
    if restore:
        return f"Restore {plural(restore, 'course')} and save"
    return "Save"


def _sorted(states: list[ContentItemState]) -> list[ContentItemState]:
    return sorted(states, key=lambda s: ((s.name or s.external_id).casefold(), s.external_id))


def course_json(state: ContentItemState) -> dict[str, Any]:
    """One course a save archives or restores, as the confirmation lists it."""
    return {
        "external_id": state.external_id,
        "title": state.name or state.external_id,
        "language": state.language_code,
        "language_name": language_label(state.language_code) or "no language",
        "content_type": state.content_type,
        "content_type_name": content_type_name(state.content_type) or "no content type",
    }


def courses(states: list[ContentItemState], offset: int = 0, limit: int = TITLES) -> dict[str, Any]:
    """``count`` courses, the ``limit`` from ``offset`` in title order, and how many follow."""
    shown = _sorted(states)[offset : offset + limit]
    return {
        "count": len(states),
        "offset": offset,
        "courses": [course_json(s) for s in shown],
        "more": max(0, len(states) - offset - len(shown)),
    }


def filters_json(filters: Filters) -> dict[str, list[str]]:
    return {"languages": sorted(filters.languages), "content_types": sorted(filters.content_types)}


def preview_json(p: FilterPreview, *, offset: int = 0, limit: int = TITLES) -> dict[str, Any]:
    """A preview as ``POST /api/integrations/{id}/filters/preview`` answers it."""
    archive, restore = len(p.archive), len(p.restore)
    return {
        "changed": p.changed,
        "saved": filters_json(p.current),
        "chosen": filters_json(p.filters),
        "archive": courses(p.archive, offset, limit),
        "restore": courses(p.restore, offset, limit),
        "unchanged": p.unchanged,
        "warnings": list(p.warnings),
        "summary": summary(archive, restore),
        "confirm_label": confirm_label(archive, restore),
    }


def choices_json(view: FiltersPage) -> dict[str, Any]:
    """``GET /api/integrations/{id}/filters``: the saved filters and the choices, with counts."""
    return {
        **filters_json(view.filters),
        "choices": {
            "languages": [vars(c) for c in view.languages],
            "content_types": [vars(c) for c in view.content_types],
        },
        "catalog_source": view.catalog_source,
        "error": view.error,
    }


def what_changed(before: Filters, after: Filters) -> str:
    """What an audit entry names: ``languages``, ``content types`` or both."""
    kinds = [
        name
        for name, old, new in (
            ("languages", before.languages, after.languages),
            ("content types", before.content_types, after.content_types),
        )
        if old != new
    ]
    return " and ".join(kinds) or "filters"


def save(
    service: Service, integration_id: int, filters: Filters, *, unchanged: bool = False
) -> int | None:
    """Submit the ``filters`` run that saves ``filters`` and archives and restores (as
    ``filters set --clear``): its id, or ``None`` when they are the saved ones (nothing to do)
    unless ``unchanged`` (a confirmed form: saved again, quietly — the run also brings the
    360Learning integration's name up to date). The run's row shows its progress; a run that
    fails before saving (a wrong secret) saves nothing, as on the command line."""
    if not unchanged and filters == saved_filters(service, integration_id):
        return None
    params = {
        "languages": sorted(filters.languages),
        "content_types": sorted(filters.content_types),
    }
    return service.runs.start(integration_id, "filters", trigger="filters", params=params)


def done_notice(run: dict[str, Any]) -> tuple[str, list[int]] | None:
    """The one-time notice the list shows once a filters run ended well (``None``: it has
    not, or it failed — its page says why)."""
    counts = run.get("counts", {})
    archived, restored = int(counts.get("archived") or 0), int(counts.get("restored") or 0)
    if run["status"] == "partial":
        return "filters_partial", [archived, restored, int(run.get("failed") or 0)]
    if run["status"] != "succeeded":
        return None
    if not archived and not restored:
        return "filters_unchanged", []
    return "filters_saved", [archived, restored]
