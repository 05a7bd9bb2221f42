"""Attempt rules (docs/api-notes.md#attempt-rules, table-driven), the learner launch, and path
status (docs/api-notes.md#paths, the help article).

The help article's "What happens when a learner clicks Start" is tested sentence by sentence:
launch → 302 to launchUrl; course Completed at 0 %; last step of a linear path → Successful;
non-linear path with all other steps completed → Successful.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from learnsync.sandbox.threesixty.attempts import AttemptRules, AttemptStore, StatInput
from openapi_contract import course_item, run_bulk, stat_item
from test_sandbox_threesixty_api import make_env, new_integration

H = 3_600_000  # one hour in ms


def stat(first: int, last: int, progress: int = 50, force_new: bool = False) -> StatInput:
    return StatInput(first, last, progress, 1000, force_new, None, 0)


# (existing attempts as (first, last, completed?) in hours, incoming stat, expected outcome)
# outcome: "new" (attempt count +1), "update:<i>" (attempt i rewritten), "keep", "error"
RULES: list[tuple[str, list[tuple[int, int, bool]], StatInput, AttemptRules, str]] = [
    ("no attempt yet → new", [], stat(1 * H, 2 * H), AttemptRules(), "new"),
    ("forceNew → new", [(1, 5, False)], stat(2 * H, 3 * H, force_new=True), AttemptRules(), "new"),
    (
        "after every attempt → new",
        [(1, 2, True), (3, 4, False)],
        stat(5 * H, 6 * H),
        AttemptRules(),
        "new",
    ),
    (
        "before end of open attempt → update",
        [(1, 5, False)],
        stat(2 * H, 6 * H),
        AttemptRules(),
        "update:0",
    ),
    (
        "same item twice on open attempt → update (GAP b)",
        [(1, 1, False)],
        stat(1 * H, 1 * H),
        AttemptRules(),
        "update:0",
    ),
    (
        "only completed attempt covers it → keep (GAP a)",
        [(1, 5, True)],
        stat(2 * H, 6 * H),
        AttemptRules(),
        "keep",
    ),
    (
        "GAP a switch: error",
        [(1, 5, True)],
        stat(2 * H, 6 * H),
        AttemptRules(completed_conflict="error"),
        "error",
    ),
    (
        "GAP a switch: new",
        [(1, 5, True)],
        stat(2 * H, 6 * H),
        AttemptRules(completed_conflict="new"),
        "new",
    ),
    (
        "completed attempt untouched, open one updated",
        [(1, 5, True), (4, 8, False)],
        stat(3 * H, 9 * H),
        AttemptRules(),
        "update:1",
    ),
    (
        "equal to completedAt is not later → keep",
        [(1, 5, True)],
        stat(5 * H, 6 * H),
        AttemptRules(),
        "keep",
    ),
]


@pytest.mark.parametrize(
    ("label", "existing", "incoming", "rules", "expected"), RULES, ids=[r[0] for r in RULES]
)
def test_attempt_rules(
    label: str,
    existing: list[tuple[int, int, bool]],
    incoming: StatInput,
    rules: AttemptRules,
    expected: str,
) -> None:
    store = AttemptStore()
    for first, last, completed in existing:
        attempt = store.create(0, 7, first * H, last * H)
        attempt.progress = 100 if completed else 10
        if completed:
            attempt.completed = last * H
    snapshot = [(a.first, a.last, a.progress, a.completed) for a in store.of(0, 7)]
    outcome = store.apply(0, 7, incoming, rules)
    attempts = store.of(0, 7)
    if expected == "error":
        assert isinstance(outcome, str) and outcome
        assert [(a.first, a.last, a.progress, a.completed) for a in attempts] == snapshot
    elif expected == "new":
        assert len(attempts) == len(existing) + 1 and outcome is attempts[-1]
        assert (outcome.first, outcome.last, outcome.progress) == (
            incoming.first,
            incoming.last,
            incoming.progress,
        )
    elif expected == "keep":
        assert [(a.first, a.last, a.progress, a.completed) for a in attempts] == snapshot
    else:
        index = int(expected.split(":")[1])
        assert len(attempts) == len(existing) and outcome is attempts[index]
        assert (outcome.last, outcome.progress) == (incoming.last, incoming.progress)
        others = [s for i, s in enumerate(snapshot) if i != index]
        assert [
            (a.first, a.last, a.progress, a.completed) for i, a in enumerate(attempts) if i != index
        ] == others


@pytest.mark.parametrize(("allow", "expected"), [(True, 20), (False, 60)])
def test_progress_decrease_switch(allow: bool, expected: int) -> None:
    store = AttemptStore()
    store.apply(0, 1, stat(1 * H, 2 * H, 60), AttemptRules())
    store.apply(0, 1, stat(1 * H, 3 * H, 20), AttemptRules(allow_progress_decrease=allow))
    assert [a.progress for a in store.of(0, 1)] == [expected]


def test_progress_100_completes_at_last_activity() -> None:
    store = AttemptStore()
    attempt = store.apply(0, 1, stat(1 * H, 4 * H, 100), AttemptRules())
    assert not isinstance(attempt, str) and attempt.completed == 4 * H


# ----------------------------------------------------------------------------- launch and paths
def setup_courses(env: SimpleNamespace, count: int, **integration: Any) -> tuple[str, list[str]]:
    integration_id = new_integration(env, **integration)
    items = [course_item(f"c{n}") for n in range(count)]
    results = run_bulk(env.api, "PUT", f"/api/v2/bulk/integrations/{integration_id}/courses", items)
    return integration_id, [r["resourceId"] for r in results]


def launch(env: SimpleNamespace, course_id: str, mail: str, path_id: str | None = None) -> Any:
    params = {"user": mail} | ({"pathId": path_id} if path_id else {})
    return env.client.get(f"/_sandbox/launch/{course_id}", params=params, follow_redirects=False)


def path_status(env: SimpleNamespace, path_id: str, mail: str) -> str:
    response = env.client.get(f"/_sandbox/paths/{path_id}/status", params={"user": mail})
    assert response.status_code == 200, response.text
    return str(response.json()["status"]["type"])


def make_path(
    env: SimpleNamespace, courses: list[str], linear: bool, optional: tuple[int, ...] = ()
) -> str:
    body = {
        "name": "Data path",
        "linearProgression": linear,
        "steps": [{"courseId": c, "optional": i in optional} for i, c in enumerate(courses)],
    }
    response = env.client.post("/_sandbox/paths", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["_id"])


def test_article_click_start_redirects_and_completes_at_zero() -> None:
    env = make_env()
    _, (course_id,) = setup_courses(env, 1, defaultCompletion=True, defaultProgress=0)
    mail = env.world.learner_email(env.known[0])
    response = launch(env, course_id, mail)
    assert response.status_code == 302
    assert response.headers["location"] == "https://www.coursera.org/learn/c0"
    (attempt,) = env.api.get("/api/v2/courses/stats", params={"courseId[eq]": course_id}).json()
    assert attempt["progress"] == 0 and attempt["completedAt"] == attempt["firstActivityAt"]


def test_launch_without_default_completion_opens_attempt_then_stats_complete_it() -> None:
    env = make_env()
    integration_id, (course_id,) = setup_courses(
        env, 1, defaultCompletion=False, defaultProgress=50
    )
    n = env.known[0]
    launch(env, course_id, env.world.learner_email(n))
    (attempt,) = env.api.get("/api/v2/courses/stats").json()
    assert attempt["progress"] == 50 and "completedAt" not in attempt
    item = stat_item(
        "c0",
        env.world.learner_email(n),
        "2020-01-01T00:00:00.000Z",
        "2999-01-01T00:00:00.000Z",
        100,
    )
    run_bulk(env.api, "POST", f"/api/v2/bulk/integrations/{integration_id}/stats", [item])
    (attempt,) = env.api.get("/api/v2/courses/stats").json()
    assert attempt["progress"] == 100 and attempt["completedAt"] == "2999-01-01T00:00:00.000Z"


def test_stats_after_click_open_a_new_attempt_and_before_click_are_kept() -> None:
    env = make_env()
    integration_id, (course_id,) = setup_courses(env, 1, defaultCompletion=True, defaultProgress=0)
    mail = env.world.learner_email(env.known[0])
    launch(env, course_id, mail)
    url = f"/api/v2/bulk/integrations/{integration_id}/stats"
    before = stat_item("c0", mail, "2000-01-01T00:00:00.000Z", "2999-01-01T00:00:00.000Z", 30)
    assert run_bulk(env.api, "POST", url, [before])[0]["status"] == "success"
    assert len(env.api.get("/api/v2/courses/stats").json()) == 1  # GAP (a): kept as is
    after = stat_item("c0", mail, "2999-01-01T00:00:00.000Z", "2999-01-02T00:00:00.000Z", 100)
    run_bulk(env.api, "POST", url, [after])
    assert [s["progress"] for s in env.api.get("/api/v2/courses/stats").json()] == [0, 100]


@pytest.mark.parametrize(
    ("user", "status", "code"),
    [("nobody@example.com", 404, "userNotFound"), (None, 404, "courseNotFound")],
)
def test_launch_errors(user: str | None, status: int, code: str) -> None:
    env = make_env()
    _, (course_id,) = setup_courses(env, 1)
    target = course_id if user else "0123456789abcdef01234567"
    response = launch(env, target, user or env.world.learner_email(env.known[0]))
    assert response.status_code == status and response.json()["error"]["code"] == code


def test_launch_archived_course_refused_outside_paths() -> None:
    env = make_env()
    integration_id, (course_id,) = setup_courses(env, 1)
    path_id = make_path(env, [course_id], linear=True)
    run_bulk(
        env.api,
        "DELETE",
        f"/api/v2/bulk/integrations/{integration_id}/courses",
        [{"externalId": "c0"}],
    )
    mail = env.world.learner_email(env.known[0])
    refused = launch(env, course_id, mail)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "courseArchived"
    assert launch(env, course_id, mail, path_id).status_code == 302  # still playable in its path


def test_article_last_step_of_linear_path_makes_it_successful() -> None:
    env = make_env()
    _integration_id, courses = setup_courses(env, 3, defaultCompletion=True, defaultProgress=0)
    path_id = make_path(env, courses, linear=True)
    mail = env.world.learner_email(env.known[0])
    assert path_status(env, path_id, mail) == "notYetStarted"
    locked = launch(env, courses[2], mail, path_id)
    assert locked.status_code == 409 and locked.json()["error"]["code"] == "stepLocked"
    assert launch(env, courses[1], mail, path_id).status_code == 409
    assert launch(env, courses[0], mail, path_id).status_code == 302
    assert path_status(env, path_id, mail) == "onTime"
    assert launch(env, courses[1], mail, path_id).status_code == 302
    assert path_status(env, path_id, mail) == "onTime"
    assert launch(env, courses[2], mail, path_id).status_code == 302
    assert path_status(env, path_id, mail) == "successful"
    other = env.world.learner_email(env.known[1])
    assert path_status(env, path_id, other) == "notYetStarted"


def test_linear_path_without_default_completion_blocks_until_stats() -> None:
    env = make_env()
    integration_id, courses = setup_courses(env, 2, defaultCompletion=False, defaultProgress=0)
    path_id = make_path(env, courses, linear=True)
    mail = env.world.learner_email(env.known[0])
    launch(env, courses[0], mail, path_id)
    assert launch(env, courses[1], mail, path_id).status_code == 409
    item = stat_item("c0", mail, "2000-01-01T00:00:00.000Z", "2999-01-01T00:00:00.000Z", 100)
    run_bulk(env.api, "POST", f"/api/v2/bulk/integrations/{integration_id}/stats", [item])
    assert launch(env, courses[1], mail, path_id).status_code == 302


def test_optional_steps_do_not_lock_or_block_success() -> None:
    env = make_env()
    _, courses = setup_courses(env, 3, defaultCompletion=True, defaultProgress=0)
    path_id = make_path(env, courses, linear=True, optional=(0,))
    mail = env.world.learner_email(env.known[0])
    assert launch(env, courses[1], mail, path_id).status_code == 302
    assert launch(env, courses[2], mail, path_id).status_code == 302
    assert path_status(env, path_id, mail) == "successful"


def test_article_non_linear_path_successful_when_other_steps_completed() -> None:
    env = make_env()
    integration_id, courses = setup_courses(env, 3, defaultCompletion=True, defaultProgress=0)
    path_id = make_path(env, courses, linear=False)
    mail = env.world.learner_email(env.known[0])
    url = f"/api/v2/bulk/integrations/{integration_id}/stats"
    done = [
        stat_item(f"c{n}", mail, "2026-01-01T00:00:00.000Z", "2026-01-02T00:00:00.000Z", 100)
        for n in (2, 0)
    ]
    run_bulk(env.api, "POST", url, done)
    assert path_status(env, path_id, mail) == "onTime"
    assert launch(env, courses[1], mail, path_id).status_code == 302  # any order
    assert path_status(env, path_id, mail) == "successful"


def test_path_success_is_sticky() -> None:
    env = make_env()
    integration_id, courses = setup_courses(env, 1, defaultCompletion=True, defaultProgress=0)
    path_id = make_path(env, courses, linear=True)
    mail = env.world.learner_email(env.known[0])
    launch(env, courses[0], mail, path_id)
    assert path_status(env, path_id, mail) == "successful"
    newer = stat_item(
        "c0", mail, "2999-01-01T00:00:00.000Z", "2999-01-02T00:00:00.000Z", 10, forceNew=True
    )
    run_bulk(env.api, "POST", f"/api/v2/bulk/integrations/{integration_id}/stats", [newer])
    assert len(env.api.get("/api/v2/courses/stats").json()) == 2
    assert path_status(env, path_id, mail) == "successful"


def test_large_stats_import_is_compact_and_fast() -> None:
    env = make_env(max_concurrent_operations=3)
    integration_id, _ = setup_courses(env, 5)
    mails = [env.world.learner_email(n) for n in env.known]
    items = [
        stat_item(
            f"c{k % 5}",
            mails[k % len(mails)],
            "2026-01-01T00:00:00.000Z",
            "2026-01-02T00:00:00.000Z",
            100,
            forceNew=True,
        )
        for k in range(10_000)
    ]
    results = run_bulk(env.api, "POST", f"/api/v2/bulk/integrations/{integration_id}/stats", items)
    assert len(results) == 10_000 and all(r["status"] == "success" for r in results)
    assert len(env.sim.attempts) == 10_000
