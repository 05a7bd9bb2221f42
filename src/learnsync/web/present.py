"""How the pages say things: status chips, icons, local times, plurals, content-type names.

Registered on the templates by :func:`install` (filters and globals), so every page says a status,
a time or a count the same way. Nothing here reads the store.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from markupsafe import Markup

from learnsync.filter.names import language_name

ICONS = Path(__file__).parent / "static" / "icons"
DEFAULT_ZONE = "Europe/Paris"  # the default schedules' zone (SPEC: 08:45 / 09:00 CET)


@dataclass(frozen=True)
class Chip:
    """A status as a person reads it: its tone (the colour), its icon and its word."""

    tone: str  # ok, warning, error, info, neutral
    icon: str
    word: str


CHIPS: dict[str, Chip] = {
    "succeeded": Chip("ok", "check", "Succeeded"),
    "ok": Chip("ok", "check", "Set up"),
    "partial": Chip("warning", "alert", "Partial"),
    "warning": Chip("warning", "alert", "Warning"),
    "failed": Chip("error", "cross", "Failed"),
    "error": Chip("error", "cross", "Failed"),
    "running": Chip("info", "sync", "Running"),
    "cancelling…": Chip("info", "sync", "Cancelling…"),
    "queued": Chip("neutral", "clock", "Queued"),
    "cancelled": Chip("neutral", "stop", "Cancelled"),
    "skipped": Chip("neutral", "info", "Skipped"),
    "new": Chip("neutral", "question", "Not verified"),
    "not_verified": Chip("neutral", "question", "Not verified"),
    "idle": Chip("neutral", "clock", "Idle"),
}


def chip_of(status: str | None) -> Chip:
    return CHIPS.get(status or "", Chip("neutral", "info", (status or "—").capitalize()))


@functools.cache
def _icon_source(name: str) -> str:
    if not re.fullmatch(r"[a-z]+", name):
        raise ValueError(f"no icon {name!r}")
    return (ICONS / f"{name}.svg").read_text(encoding="utf-8").strip()


def icon(name: str, label: str = "") -> Markup:
    """An icon of ``static/icons`` inline (no request): decorative unless ``label`` is given."""
    source = _icon_source(name)
    if label:
        attrs = f'class="icon" role="img" aria-label="{Markup.escape(label)}" focusable="false"'
    else:
        attrs = 'class="icon" aria-hidden="true" focusable="false"'
    return Markup(source.replace("<svg ", f"<svg {attrs} ", 1))


def chip(status: str | None, word: str | None = None) -> Markup:
    """A status chip: icon + word (``word`` replaces the default word, e.g. "Set up")."""
    c = chip_of(status)
    text = Markup.escape(word if word is not None else c.word)
    return Markup(
        f'<span class="chip chip-{c.tone}" data-status="{Markup.escape(status or "")}">'
        f"{icon(c.icon)}<span>{text}</span></span>"
    )


def plural(count: int | None, singular: str, many: str | None = None) -> str:
    """``3 items``, ``1 item``, ``0 items`` (``many`` for irregular plurals)."""
    n = count or 0
    word = singular if n == 1 else (many or f"{singular}s")
    return f"{n:,} {word}"


def content_type_name(code: str | None) -> str:
    """Coursera's ``GuidedProject`` → ``Guided project``; unknown codes read the same way."""
    if not code:
        return ""
    words = re.findall(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])", code) or [code]
    text = " ".join(w.lower() for w in words)
    return text[:1].upper() + text[1:]


def language_label(code: str | None) -> str:
    """``fr`` → ``French (fr)``; ``es-419`` → ``Spanish (Latin America, es-419)``."""
    if not code:
        return ""
    name = language_name(code)
    if name == code:
        return name
    if name.endswith(")"):
        return f"{name[:-1]}, {code})"
    return f"{name} ({code})"


def zone_or_default(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or DEFAULT_ZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_ZONE)


def _as_datetime(value: str | datetime | None) -> datetime | None:
    if value is None or value == "":
        return None
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def local_time(value: str | datetime | None, zone: str | None = None, *, date: bool = True) -> str:
    """``Wed 2 Dec 2026, 08:45 CET`` in ``zone`` (the integration's schedule zone); "—" for none."""
    moment = _as_datetime(value)
    if moment is None:
        return "—"
    local = moment.astimezone(zone_or_default(zone))
    clock = f"{local:%H:%M} {local.tzname()}"
    if not date:
        return clock
    return f"{local:%a} {local.day} {local:%b %Y}, {clock}"


def when(value: str | datetime | None, zone: str | None = None, now: datetime | None = None) -> str:
    """Short local time for lists: ``08:45 today``, ``09:00 yesterday``, ``08:45 tomorrow``,
    else ``Wed 2 Dec, 08:45``; the zone's abbreviation follows (``CET``)."""
    moment = _as_datetime(value)
    if moment is None:
        return "—"
    tz = zone_or_default(zone)
    local = moment.astimezone(tz)
    today = (now or datetime.now(UTC)).astimezone(tz).date()
    days = (local.date() - today).days
    clock = f"{local:%H:%M} {local.tzname()}"
    word = {0: "today", -1: "yesterday", 1: "tomorrow"}.get(days)
    if word:
        return f"{clock} {word}"
    return f"{local:%a} {local.day} {local:%b}, {clock}"


def relative(value: str | datetime | None, now: datetime | None = None) -> str:
    """``in 2 h``, ``5 min ago``, ``just now``, ``in 3 days`` ("" for none)."""
    moment = _as_datetime(value)
    if moment is None:
        return ""
    now = now or datetime.now(UTC)
    now = now if now.tzinfo else now.replace(tzinfo=UTC)
    delta = moment - now
    seconds = abs(delta.total_seconds())
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        amount = f"{int(seconds // 60)} min"
    elif seconds < 48 * 3600:
        amount = f"{int(seconds // 3600)} h"
    else:
        amount = f"{int(seconds // 86400)} days"
    return f"in {amount}" if delta > timedelta(0) else f"{amount} ago"


def duration(seconds: float | None) -> str:
    """``0.4 s``, ``12 s``, ``3 min 05 s``, ``1 h 02 min`` ("…" while it runs)."""
    if seconds is None:
        return "…"
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


KIND_NAMES = {"content": "Content", "stats": "Statistics", "filters": "Filter save"}
TRIGGER_NAMES = {
    "manual": "an administrator (Sync now)",
    "filters": "an administrator (filter save)",
    "schedule": "the schedule",
    "cli": "the command line",
}


def kind_name(kind: str | None) -> str:
    return KIND_NAMES.get(kind or "", (kind or "").capitalize())


def trigger_name(trigger: str | None) -> str:
    return TRIGGER_NAMES.get(trigger or "", (trigger or "—").replace("_", " "))


def install(env: Any, clock: Any) -> None:
    """Register the helpers on a Jinja2 environment; ``clock()`` is the service's now."""
    env.globals.update(icon=icon, chip=chip, now=clock)
    env.filters.update(
        plural=plural,
        content_type_name=content_type_name,
        language_label=language_label,
        local_time=local_time,
        relative=lambda value: relative(value, clock()),
        when=lambda value, zone=None: when(value, zone, clock()),
        duration=duration,
        kind_name=kind_name,
        trigger_name=trigger_name,
    )
