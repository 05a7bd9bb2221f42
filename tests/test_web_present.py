"""How the pages say things (learnsync.web.present, learnsync.web.health): table-driven."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from learnsync.web.health import health_of
from learnsync.web.present import (
    chip,
    content_type_name,
    duration,
    icon,
    language_label,
    local_time,
    plural,
    relative,
    when,
)

NOW = datetime(2026, 12, 2, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("count", "word", "many", "shown"),
    [
        (0, "item", None, "0 items"),
        (1, "item", None, "1 item"),
        (2, "item", None, "2 items"),
        (5000, "course", None, "5,000 courses"),
        (1, "entry", "entries", "1 entry"),
        (3, "entry", "entries", "3 entries"),
        (None, "run", None, "0 runs"),
    ],
)
def test_plurals(count: int | None, word: str, many: str | None, shown: str) -> None:
    assert plural(count, word, many) == shown


@given(st.integers(min_value=0, max_value=10**9))
def test_a_count_is_singular_only_for_one(n: int) -> None:
    assert plural(n, "item").endswith(" item") == (n == 1)


@pytest.mark.parametrize(
    ("code", "name"),
    [
        ("GuidedProject", "Guided project"),
        ("ProfessionalCertificate", "Professional certificate"),
        ("Course", "Course"),
        ("Specialization", "Specialization"),
        ("", ""),
        (None, ""),
        ("MOOC", "Mooc"),
    ],
)
def test_content_type_names(code: str | None, name: str) -> None:
    assert content_type_name(code) == name


def test_language_labels() -> None:
    assert language_label("fr") == "French (fr)"
    assert language_label("es-419") == "Spanish (Latin America, es-419)"  # one pair of brackets
    assert language_label("") == ""


@pytest.mark.parametrize(
    ("value", "zone", "shown"),
    [
        ("2026-12-02T07:45:00+00:00", "Europe/Paris", "Wed 2 Dec 2026, 08:45 CET"),
        ("2026-07-02T07:45:00", "Europe/Paris", "Thu 2 Jul 2026, 09:45 CEST"),  # naive = UTC
        ("2026-12-02T07:45:00+00:00", "America/New_York", "Wed 2 Dec 2026, 02:45 EST"),
        ("2026-12-02T07:45:00+00:00", "Not/AZone", "Wed 2 Dec 2026, 08:45 CET"),
        (None, "Europe/Paris", "—"),
    ],
)
def test_local_times_are_in_the_schedule_zone(value: str | None, zone: str, shown: str) -> None:
    assert local_time(value, zone) == shown


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("2026-12-02T07:45:00+00:00", "08:45 CET today"),
        ("2026-12-01T08:00:00+00:00", "09:00 CET yesterday"),
        ("2026-12-03T07:45:00+00:00", "08:45 CET tomorrow"),
        ("2026-11-20T07:45:00+00:00", "Fri 20 Nov, 08:45 CET"),
    ],
)
def test_when_says_today_and_yesterday(value: str, shown: str) -> None:
    assert when(value, "Europe/Paris", NOW) == shown


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("2026-12-02T11:30:00+00:00", "in 2 h"),
        ("2026-12-02T09:25:00+00:00", "5 min ago"),
        ("2026-12-02T09:30:20+00:00", "just now"),
        ("2026-12-06T09:30:00+00:00", "in 4 days"),
        (None, ""),
    ],
)
def test_relative_times(value: str | None, shown: str) -> None:
    assert relative(value, NOW) == shown


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(None, "…"), (0.42, "0.4 s"), (12.2, "12 s"), (185, "3 min 05 s"), (3720, "1 h 02 min")],
)
def test_durations(seconds: float | None, shown: str) -> None:
    assert duration(seconds) == shown


def test_a_chip_has_an_icon_and_a_word_and_partial_is_not_green() -> None:
    partial = str(chip("partial"))
    assert "chip-warning" in partial and "<svg" in partial and ">Partial<" in partial
    assert "chip-ok" in str(chip("succeeded"))
    assert "chip-neutral" in str(chip("skipped"))  # skipped is not failed red
    assert ">Not verified<" in str(chip("new"))
    assert "&lt;b&gt;" in str(chip("failed", "<b>"))  # words are escaped


def test_icons_are_inline_svg_and_only_known_names() -> None:
    assert str(icon("bin")).startswith('<svg class="icon" aria-hidden="true"')
    assert 'aria-label="Remove"' in str(icon("bin", "Remove"))
    with pytest.raises(ValueError):
        icon("../secrets")


def run(kind: str, status: str, at: str, *, failed: int = 0, error: str | None = None) -> Any:
    return {"id": 7, "kind": kind, "status": status, "started_at": at, "failed": failed,
            "error": error}  # fmt: skip


@pytest.mark.parametrize(
    ("setup", "message", "content", "stats", "warning", "status", "reason", "href"),
    [
        ("error", "Coursera refused the client credentials", None, None, None, "failed",
         "Setup failed: Coursera refused the client credentials", "/integrations/3"),
        ("ok", "", run("content", "failed", "2026-12-02T07:45:00+00:00",
                       error="Coursera refused the refresh token"), None, None, "failed",
         "The content run failed: Coursera refused the refresh token", "/integrations/3/runs/7"),
        ("ok", "", run("content", "succeeded", "2026-12-02T07:45:00+00:00"),
         run("stats", "partial", "2026-12-02T08:00:00+00:00", failed=19), None, "partial",
         "19 items failed in the statistics run", "/integrations/3/runs/7"),
        ("ok", "", None, None, "The Coursera refresh token lapses soon", "warning",
         "The Coursera refresh token lapses soon", "/integrations/3"),
        ("new", "", None, None, None, "new",
         "Not verified yet: enter the credentials, then click Setup integration",
         "/integrations/3"),
        ("ok", "", run("content", "succeeded", "2026-12-02T07:45:00+00:00"), None, None, "ok",
         "Last content run succeeded", "/integrations/3/runs/7"),
    ],
)  # fmt: skip
def test_health_says_why_and_links_to_it(
    setup: str,
    message: str,
    content: Any,
    stats: Any,
    warning: str | None,
    status: str,
    reason: str,
    href: str,
) -> None:
    health = health_of(3, setup, message, {"content": content, "stats": stats}, warning)
    assert (health.status, health.reason, health.href) == (status, reason, href)
