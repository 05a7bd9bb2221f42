"""Shared support for the Catalog and Statistics page tests: a service whose store holds a known
catalog and known statistics, written straight into the store (no simulator, no sync)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from learnsync.mapping.stats import NO_LEARNER_EMAIL
from learnsync.service.core import Service
from learnsync.service.secrets import SecretBox
from learnsync.store import ContentItemState, StatItemState
from service_support import sample_input

PASSWORD = "admin-password-1"
PLATFORM = "https://app.us.360learning.com"  # not the default: the links follow the setting
LANGUAGES = ("en", "fr", "es", "de")
TYPES = ("Course", "GuidedProject", "Specialization", "Project")
# item n's state: six in ten active, then one of each other state
STATE_CYCLE = ("active",) * 6 + ("archived_filter", "archived_removed", "skipped", "failed")
WORDS = ("Data", "python", "Leadership", "cloud", "Finance", "design", "Marketing")


def catalog_items(count: int) -> list[ContentItemState]:
    """``count`` items: names, languages, types and states in cycles; a skipped item has no
    course nor payload; every item whose number is a multiple of 3 has "orchid" in its
    description; item 5's launchUrl is not a web address."""
    items = []
    for n in range(count):
        state = STATE_CYCLE[n % len(STATE_CYCLE)]
        sent = state != "skipped"
        launch = f"https://www.coursera.org/learn/course-{n:03d}" if n != 5 else "javascript:x()"
        items.append(
            ContentItemState(
                external_id=f"Course~c{n:03d}",
                state=state,
                course_id=f"{n:024x}" if sent else None,
                payload={
                    "description": f"About {WORDS[(n + 3) % 7].lower()}"
                    + (" and the orchid" if n % 3 == 0 else ""),
                    "launchUrl": launch,
                }
                if sent
                else None,
                language_code=LANGUAGES[n % len(LANGUAGES)],
                content_type=TYPES[n % len(TYPES)],
                name=f"{WORDS[n % 7]} {n:03d}",
                skip_reason="missing_launch_url" if state == "skipped" else None,
                last_error="HTTP 500 from 360Learning" if state == "failed" else None,
            )
        )
    return items


def new_service(tmp_path: Path, clock: Callable[[], datetime] | None = None) -> Service:
    """A service with the admin user and one integration (id 1) on :data:`PLATFORM`."""
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    if clock is None:
        service = Service(url, SecretBox.generate())
    else:
        service = Service(url, SecretBox.generate(), clock=clock)
    service.auth.create_user("admin", PASSWORD)
    service.integrations.save(sample_input(threesixty_base_url=PLATFORM))
    return service


def fill_stats(service: Service, now: datetime, per_day: list[int]) -> None:
    """Completions first seen ``per_day[k]`` times on the day ``len(per_day) - 1 - k`` days
    before ``now`` (the last number is today's), on the catalog's first courses."""
    items = []
    for back, count in enumerate(reversed(per_day)):
        day = now - timedelta(days=back)
        for k in range(count):
            items.append(
                StatItemState(
                    external_id=f"Course~c{k % 4:03d}",
                    learner=f"learner{back}.{k}@example.com",
                    state="sent",
                    sent_hash=back * 1000 + k,
                    sent_completed=True,
                    first_seen_at=day,
                    completed_seen_at=day,
                )
            )
    service.store.save_stat_items(1, items)


def fill_unmatched(service: Service, count: int) -> None:
    """``count`` learners 360Learning knows no user for (a rejected pair each, one in two on two
    courses) and one learner Coursera gives no e-mail for."""
    items = [
        StatItemState(
            external_id=f"Course~c{k:03d}",
            learner=f"stranger{n:03d}@example.com",
            state="failed",
            last_error="userNotFound: no user with this e-mail",
        )
        for n in range(count)
        for k in range(1 + n % 2)
    ]
    items.append(
        StatItemState("Course~c000", "coursera-user-7", "skipped", last_error=NO_LEARNER_EMAIL)
    )
    service.store.save_stat_items(1, items)
