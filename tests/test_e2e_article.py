"""The article's "What happens when a learner clicks Start", end to end (issue 4).

Content is synchronized by the CLI; a learner clicks Start in the 360Learning simulator (its
sandbox-only learner side); Coursera's enrollment reports then move on, and `sync stats` brings
the real progress, then the completion — while tags and the learner's path status stay intact.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from e2e_support import courses_of, expected_catalog, run_cli, threesixty_writes
from learnsync.sandbox.stack import Stack

MINUTE_MS = 60_000


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{ms % 1000:03d}Z"
    )


class Platform:
    """The 360Learning simulator seen through its HTTP API, as a learner and as an admin."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.http = httpx.Client(base_url=stack.threesixty_url, timeout=10)

    @property
    def api_headers(self) -> dict[str, str]:
        """A fresh token each time: the tests move the simulators' clock by days."""
        world = self.stack.world
        token = self.http.post(
            "/api/v2/oauth2/token",
            json={
                "grant_type": "client_credentials",
                "client_id": world.threesixty_client_id,
                "client_secret": world.threesixty_client_secret,
            },
        ).json()["access_token"]
        return {"Authorization": f"Bearer {token}", "360-api-version": "v2.0"}

    def click_start(self, course_id: str, mail: str, path_id: str | None = None) -> httpx.Response:
        params = {"user": mail} | ({"pathId": path_id} if path_id else {})
        return self.http.get(f"/_sandbox/launch/{course_id}", params=params)

    def create_path(self, steps: list[str], *, linear: bool) -> str:
        body = {
            "name": "Path",
            "linearProgression": linear,
            "steps": [{"courseId": c} for c in steps],
        }
        response = self.http.post("/_sandbox/paths", json=body)
        assert response.status_code in (200, 201), response.text
        return str(response.json()["_id"])

    def path_status(self, path_id: str, mail: str) -> str:
        response = self.http.get(f"/_sandbox/paths/{path_id}/status", params={"user": mail})
        return str(response.json()["status"]["type"])

    def attempts(self, course_id: str, user_id: str) -> list[dict[str, Any]]:
        response = self.http.get(
            "/api/v2/courses/stats",
            params={"courseId[eq]": course_id, "userId[eq]": user_id},
            headers=self.api_headers,
        )
        assert response.status_code == 200, response.text
        return sorted(response.json(), key=lambda a: a.get("firstActivityAt") or "")

    def user_id(self, mail: str) -> str:
        response = self.http.get(
            "/api/v2/users", params={"mail[eq]": mail}, headers=self.api_headers
        )
        return str(response.json()[0]["_id"])


def known_learner(stack: Stack) -> str:
    world = stack.world
    n = next(n for n in range(world.learners) if world.learner_known_to_360(n))
    return world.learner_email(n)


def upsert_row(stack: Stack, course_external_id: str, mail: str, **fields: Any) -> None:
    content_type, _, content_id = course_external_id.partition("~")
    stack.coursera.report.upsert(
        content_id=content_id,
        content_type=content_type,
        learner=mail,
        fields=fields,
        now_ms=stack.coursera.clock.now_ms(),
    )


def stats(config: Path, tmp_path: Path):
    return run_cli("sync", "stats", "--config", config, report=tmp_path / "stats.json")


@pytest.fixture
def synced(stack: Stack, config_path: Path, tmp_path: Path) -> Stack:
    result = run_cli("sync", "content", "--config", config_path)
    assert result.exit_code == 0, result.stderr
    return stack


@pytest.fixture
def platform(synced: Stack) -> Iterator[Platform]:
    platform = Platform(synced)
    with platform.http:  # its connections closed at the end of the test
        yield platform


def courses_in_catalog(stack: Stack, count: int) -> list[Any]:
    mapped = expected_catalog(stack)[0]
    courses = courses_of(stack)
    return [courses[e] for e in list(mapped)[:count]]


def test_click_start_redirects_and_completes_at_zero_percent(
    synced: Stack, platform: Platform
) -> None:
    course = courses_in_catalog(synced, 1)[0]
    mail = known_learner(synced)
    response = platform.click_start(course.id, mail)
    assert response.status_code == 302
    assert response.headers["location"] == course.data["launchUrl"]
    (attempt,) = platform.attempts(course.id, platform.user_id(mail))
    assert attempt["progress"] == 0
    assert attempt.get("completedAt")  # Completed, with a progress of 0 %


def test_linear_path_whose_last_step_is_clicked_becomes_successful(
    synced: Stack, platform: Platform
) -> None:
    first, last = courses_in_catalog(synced, 2)
    mail = known_learner(synced)
    path = platform.create_path([first.id, last.id], linear=True)
    assert platform.click_start(last.id, mail, path).status_code == 409  # locked until step 1
    assert platform.click_start(first.id, mail, path).status_code == 302
    assert platform.path_status(path, mail) != "successful"
    assert platform.click_start(last.id, mail, path).status_code == 302
    assert platform.path_status(path, mail) == "successful"


def test_non_linear_path_with_other_steps_completed_becomes_successful(
    synced: Stack, platform: Platform
) -> None:
    a, b, c = courses_in_catalog(synced, 3)
    mail = known_learner(synced)
    path = platform.create_path([a.id, b.id, c.id], linear=False)
    platform.click_start(c.id, mail, path)
    platform.click_start(a.id, mail, path)
    assert platform.path_status(path, mail) != "successful"
    assert platform.click_start(b.id, mail, path).status_code == 302
    assert platform.path_status(path, mail) == "successful"


def test_statistics_follow_coursera_after_the_click(
    synced: Stack, platform: Platform, config_path: Path, tmp_path: Path
) -> None:
    first, course = courses_in_catalog(synced, 2)
    mail = known_learner(synced)
    user_id = platform.user_id(mail)
    path = platform.create_path([first.id, course.id], linear=True)
    platform.click_start(first.id, mail, path)
    platform.click_start(course.id, mail, path)
    assert platform.path_status(path, mail) == "successful"
    tag = synced.threesixty.create_tag({"name": "Onboarding", "isMain": False})
    synced.threesixty.set_course_tags(course.id, {"tagIds": [tag["_id"]]})

    # the learner starts on Coursera after the click: real progress arrives with the next sync
    clock = synced.coursera.clock
    clock.advance(60)
    enrolled = clock.now_ms()
    clock.advance(3600)
    upsert_row(synced, course.external_id, mail, enrolledAt=enrolled, overallProgress=40,
               isCompleted=False, approxTotalCourseHrs=1.5)  # fmt: skip
    first_sync = stats(config_path, tmp_path)
    assert first_sync.exit_code == 0, first_sync.stderr
    latest = platform.attempts(course.id, user_id)[-1]
    assert latest["progress"] == 40
    assert latest.get("completedAt") is None
    assert latest["timeSpent"] == 5_400_000
    assert latest["firstActivityAt"] == iso(enrolled)

    # a later completion brings 100 % and the completion date (Coursera's lastActivityAt)
    clock.advance(86_400)
    finished = clock.now_ms()
    upsert_row(synced, course.external_id, mail, enrolledAt=enrolled, isCompleted=True,
               overallProgress=100, lastActivityAt=finished)  # fmt: skip
    second_sync = stats(config_path, tmp_path)
    assert second_sync.exit_code == 0, second_sync.stderr
    latest = platform.attempts(course.id, user_id)[-1]
    assert latest["progress"] == 100
    assert latest["completedAt"] == iso(finished)

    # tags and the learner's path status stay intact
    assert courses_of(synced)[course.external_id].tags == [tag["_id"]]
    assert platform.path_status(path, mail) == "successful"

    # nothing changed on Coursera: nothing is sent
    before = threesixty_writes(synced)
    third_sync = stats(config_path, tmp_path)
    assert third_sync.exit_code == 0
    assert third_sync.report is not None and third_sync.report["sent"] == 0
    assert threesixty_writes(synced) == before
