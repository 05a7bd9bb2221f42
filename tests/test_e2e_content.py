"""`learnsync sync content` end to end: the CLI against both simulators on loopback (issue 3)."""

from __future__ import annotations

from pathlib import Path

import pytest

from e2e_support import courses_of, expected_catalog, run_cli, threesixty_writes
from learnsync.sandbox.stack import Stack


def sync(config: Path, tmp_path: Path, *extra: str):
    return run_cli("sync", "content", "--config", config, *extra, report=tmp_path / "report.json")


def test_first_sync_creates_every_mappable_course_exactly_as_mapped(
    stack: Stack, config_path: Path, tmp_path: Path
) -> None:
    mapped, skipped = expected_catalog(stack)
    result = sync(config_path, tmp_path)
    assert result.exit_code == 0, result.stderr
    report = result.report
    assert report is not None
    assert report["kind"] == "content" and report["dry_run"] is False
    assert report["created"] == len(mapped) > 0
    assert (report["updated"], report["unchanged"], report["archived"], report["restored"]) == (
        0, 0, 0, 0,
    )  # fmt: skip
    assert {(s["externalId"], s["reason"]) for s in report["skipped"]} == {
        (s.external_id, s.reason) for s in skipped.values()
    }
    assert report["failed"] == []
    courses = courses_of(stack)
    assert set(courses) == set(mapped)
    for external_id, course in courses.items():
        assert course.data == mapped[external_id].payload
        assert course.status == "published"
        assert course.writes == 1
    assert "created" in result.stdout


def test_unchanged_resync_sends_no_write(stack: Stack, config_path: Path, tmp_path: Path) -> None:
    assert sync(config_path, tmp_path).exit_code == 0
    before = threesixty_writes(stack)
    result = sync(config_path, tmp_path)
    assert result.exit_code == 0, result.stderr
    assert threesixty_writes(stack) == before
    assert result.report is not None
    assert result.report["created"] == result.report["updated"] == 0
    assert result.report["unchanged"] == len(expected_catalog(stack)[0])


def test_one_changed_course_is_one_write(stack: Stack, config_path: Path, tmp_path: Path) -> None:
    assert sync(config_path, tmp_path).exit_code == 0
    target = next(iter(expected_catalog(stack)[0].values()))
    stack.coursera.patch_content(target.external_id, {"name": "A brand new title"})
    before = threesixty_writes(stack)
    result = sync(config_path, tmp_path)
    assert result.exit_code == 0, result.stderr
    assert result.report is not None and result.report["updated"] == 1
    assert threesixty_writes(stack) == before + 1  # one bulk upsert request
    course = courses_of(stack)[target.external_id]
    assert course.data["name"] == "A brand new title"
    assert course.writes == 2
    others = [c for c in courses_of(stack).values() if c.external_id != target.external_id]
    assert all(c.writes == 1 for c in others)


def test_hand_added_tags_survive_syncs(stack: Stack, config_path: Path, tmp_path: Path) -> None:
    assert sync(config_path, tmp_path).exit_code == 0
    target = next(iter(expected_catalog(stack)[0].values()))
    course = courses_of(stack)[target.external_id]
    tag = stack.threesixty.create_tag({"name": "Leadership", "isMain": False})
    stack.threesixty.set_course_tags(course.id, {"tagIds": [tag["_id"]]})
    stack.coursera.patch_content(target.external_id, {"description": "Rewritten on Coursera"})
    assert sync(config_path, tmp_path).exit_code == 0
    course = courses_of(stack)[target.external_id]
    assert course.data["description"] == "Rewritten on Coursera"
    assert course.tags == [tag["_id"]]


def test_removed_course_stays_active_by_default(
    stack: Stack, config_path: Path, tmp_path: Path
) -> None:
    assert sync(config_path, tmp_path).exit_code == 0
    target = next(iter(expected_catalog(stack)[0].values()))
    stack.coursera.remove_content(target.external_id)
    before = threesixty_writes(stack)
    result = sync(config_path, tmp_path)
    assert result.exit_code == 0
    assert result.report is not None and result.report["archived"] == 0
    assert courses_of(stack)[target.external_id].status == "published"
    assert threesixty_writes(stack) == before


def archive_removed_config(stack: Stack, tmp_path: Path) -> Path:
    path = tmp_path / "archive.toml"
    path.write_text(
        stack.config_toml(f"sqlite:///{tmp_path / 'store.db'}", archive_removed=True),
        encoding="utf-8",
    )
    return path


def test_removed_course_is_archived_with_archive_removed(stack: Stack, tmp_path: Path) -> None:
    config = archive_removed_config(stack, tmp_path)
    assert sync(config, tmp_path).exit_code == 0
    target = next(iter(expected_catalog(stack)[0].values()))
    stack.coursera.remove_content(target.external_id)
    result = sync(config, tmp_path)
    assert result.exit_code == 0, result.stderr
    assert result.report is not None and result.report["archived"] == 1
    assert courses_of(stack)[target.external_id].status == "archived"
    # back in Coursera: restored by the next sync
    stack.coursera.reset_catalog()
    result = sync(config, tmp_path)
    assert result.report is not None and result.report["restored"] == 1
    assert courses_of(stack)[target.external_id].status == "published"


def test_archive_guard_refuses_more_than_20_percent_without_force(
    stack: Stack, tmp_path: Path
) -> None:
    config = archive_removed_config(stack, tmp_path)
    assert sync(config, tmp_path).exit_code == 0
    mapped = list(expected_catalog(stack)[0])
    gone = mapped[: len(mapped) // 4 + 1]  # > 20 %
    for external_id in gone:
        stack.coursera.remove_content(external_id)
    refused = sync(config, tmp_path)
    assert refused.exit_code == 1
    assert "--force" in refused.stderr
    assert refused.report is not None and refused.report["archived"] == 0
    assert all(courses_of(stack)[e].status == "published" for e in gone)
    forced = sync(config, tmp_path, "--force")
    assert forced.exit_code == 0, forced.stderr
    assert forced.report is not None and forced.report["archived"] == len(gone)
    assert all(courses_of(stack)[e].status == "archived" for e in gone)


def test_dry_run_writes_nothing_anywhere(stack: Stack, config_path: Path, tmp_path: Path) -> None:
    result = sync(config_path, tmp_path, "--dry-run")
    assert result.exit_code == 0, result.stderr
    assert result.report is not None and result.report["dry_run"] is True
    assert result.report["created"] == len(expected_catalog(stack)[0])
    assert threesixty_writes(stack) == 0
    assert stack.threesixty.courses == []
    assert not (tmp_path / "store.db").exists()
    # after a real sync, a dry run after a change reports the update but sends nothing
    assert sync(config_path, tmp_path).exit_code == 0
    target = next(iter(expected_catalog(stack)[0].values()))
    stack.coursera.patch_content(target.external_id, {"name": "Changed"})
    before_writes = threesixty_writes(stack)
    store_bytes = (tmp_path / "store.db").read_bytes()
    result = sync(config_path, tmp_path, "--dry-run")
    assert result.report is not None and result.report["updated"] == 1
    assert threesixty_writes(stack) == before_writes
    assert (tmp_path / "store.db").read_bytes() == store_bytes
    assert courses_of(stack)[target.external_id].data["name"] != "Changed"


def test_filters_saved_archive_at_once_and_widened_filters_restore(
    stack: Stack, config_path: Path, tmp_path: Path
) -> None:
    assert sync(config_path, tmp_path).exit_code == 0
    mapped = expected_catalog(stack)[0]
    english = {e for e, m in mapped.items() if (m.language_code or "").lower() == "en"}
    others = set(mapped) - english
    assert english and others
    before = {e: c.writes for e, c in courses_of(stack).items()}

    preview = run_cli("filters", "set", "--config", config_path, "--language", "en", "--dry-run",
                      report=tmp_path / "preview.json")  # fmt: skip
    assert preview.exit_code == 0, preview.stderr
    assert preview.report is not None and preview.report["archived"] == len(others)
    assert all(c.status == "published" for c in courses_of(stack).values())

    saved = run_cli("filters", "set", "--config", config_path, "--language", "en",
                    report=tmp_path / "saved.json")  # fmt: skip
    assert saved.exit_code == 0, saved.stderr
    assert saved.report is not None and saved.report["archived"] == len(others)
    courses = courses_of(stack)
    assert {e for e, c in courses.items() if c.status == "archived"} == others
    assert all(courses[e].writes == before[e] for e in english)  # matching content untouched

    shown = run_cli("filters", "show", "--config", config_path)
    assert shown.exit_code == 0 and "languages:     en" in shown.stdout

    # later syncs apply the filters: nothing to archive or create again
    result = sync(config_path, tmp_path)
    assert result.report is not None
    assert result.report["archived"] == result.report["created"] == 0

    widened = run_cli("filters", "set", "--config", config_path, "--clear",
                      report=tmp_path / "widened.json")  # fmt: skip
    assert widened.exit_code == 0, widened.stderr
    assert widened.report is not None and widened.report["restored"] == len(others)
    result = sync(config_path, tmp_path)
    assert result.exit_code == 0
    assert all(c.status == "published" for c in courses_of(stack).values())


def test_content_type_filter_combines_with_language(
    stack: Stack, config_path: Path, tmp_path: Path
) -> None:
    assert run_cli("filters", "set", "--config", config_path, "--language", "en",
                   "--content-type", "Course").exit_code == 0  # fmt: skip
    result = sync(config_path, tmp_path)
    assert result.exit_code == 0
    mapped = expected_catalog(stack)[0]
    wanted = {
        e
        for e, m in mapped.items()
        if (m.language_code or "").lower() == "en" and (m.content_type or "").lower() == "course"
    }
    assert set(courses_of(stack)) == wanted


@pytest.mark.parametrize(
    ("section", "key"), [("coursera", "client_secret"), ("threesixty", "client_secret")]
)
def test_wrong_credentials_exit_3(
    stack: Stack, config_path: Path, tmp_path: Path, section: str, key: str
) -> None:
    text = config_path.read_text().splitlines()
    in_section = False
    for n, line in enumerate(text):
        if line.startswith("["):
            in_section = line == f"[{section}]"
        elif in_section and line.startswith(f"{key} ="):
            text[n] = f'{key} = "wrong-secret"'
    config_path.write_text("\n".join(text) + "\n")
    result = sync(config_path, tmp_path)
    assert result.exit_code == 3
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("learnsync: error:")
    assert "wrong-secret" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[coursera\n", "not valid TOML"),
        ("[coursera]\norg_id = 'x'\n", "missing key"),
    ],
)
def test_broken_config_exit_2(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    result = sync(path, tmp_path)
    assert result.exit_code == 2
    assert fragment in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


BAD_STORE_CONFIG = """
[store]
url = "postgresql://bob:Pa55-word@db.example:notaport/learnsync"
[coursera]
org_id = "o"
client_id = "c"
client_secret = "cs"
refresh_token = "rt"
[threesixty]
client_id = "t"
client_secret = "ts"
group_id = "aaaaaaaaaaaaaaaaaaaaaaaa"
author_id = "bbbbbbbbbbbbbbbbbbbbbbbb"
"""


@pytest.mark.parametrize(
    "command", [("filters", "show"), ("sync", "content", "--dry-run")], ids=" ".join
)
def test_malformed_store_url_exit_2_without_its_password(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    path = tmp_path / "bad-store.toml"
    path.write_text(BAD_STORE_CONFIG)
    result = run_cli(*command, "--config", path)
    assert result.exit_code == 2
    assert "not a valid database URL" in result.stderr
    assert "Pa55-word" not in result.stderr + result.stdout


def test_missing_config_file_exit_2(tmp_path: Path) -> None:
    result = sync(tmp_path / "absent.toml", tmp_path)
    assert result.exit_code == 2
    assert "not found" in result.stderr


def test_expired_refresh_token_is_an_actionable_exit_3(
    stack: Stack, config_path: Path, tmp_path: Path
) -> None:
    stack.coursera.expire_refresh_tokens()
    result = sync(config_path, tmp_path)
    assert result.exit_code == 3
    assert "learnsync coursera authorize" in result.stderr
    assert stack.world.coursera_refresh_token not in result.stderr + result.stdout
    assert threesixty_writes(stack) == 0


def test_missing_scope_is_named(stack: Stack, config_path: Path, tmp_path: Path) -> None:
    """A credential without bulkOperations:read (the guide forgets it) cannot follow operations."""
    scopes = ["integrations:read", "integrations:write", "integrations:bulk", "courses:write"]
    credential = stack.threesixty.add_credential(scopes)
    text = config_path.read_text()
    text = text.replace(stack.world.threesixty_client_id, credential.client_id)
    text = text.replace(stack.world.threesixty_client_secret, credential.client_secret)
    config_path.write_text(text)
    result = sync(config_path, tmp_path)
    assert result.exit_code == 3
    assert "bulkOperations:read" in result.stderr
    assert credential.client_secret not in result.stderr


def test_a_second_writing_run_is_refused_while_one_is_going(
    stack: Stack, config_path: Path, tmp_path: Path
) -> None:
    from datetime import UTC, datetime, timedelta

    from learnsync.config import load_config
    from learnsync.store.jobs import RunJobs
    from learnsync.store.repository import Store

    assert sync(config_path, tmp_path).exit_code == 0
    config = load_config(config_path)
    with Store.open(config.store_url) as store:
        record = store.get_integration(config.integration_key)
        assert record is not None
        jobs = RunJobs(store.engine)
        going = jobs.submit(record.id, "content", "manual")
        jobs.start(going, "another-host:4242:feed")  # another host's run holds the lease
    result = sync(config_path, tmp_path)
    assert result.exit_code == 1
    assert f"run {going}" in result.stderr and "still going" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    refused = run_cli("filters", "set", "--config", config_path, "--language", "en")
    assert refused.exit_code == 1
    with Store.open(config.store_url) as store:
        cancelled = [r for r in store.list_runs(record.id) if r.status == "cancelled"]
        assert len(cancelled) == 2  # the refused runs are recorded, never started
        assert all(f"(run {going}) is going" in (r.error or "") for r in cancelled)

    # a lease whose heartbeat stopped long ago (its process died) does not block anyone
    long_ago = datetime.now(UTC) - timedelta(hours=1)
    with Store.open(config.store_url) as store:
        RunJobs(store.engine).end(going, "another-host:4242:feed", "failed", "test")
        old = RunJobs(store.engine, clock=lambda: long_ago)
        dead = old.submit(record.id, "content", "manual")
        old.start(dead, "another-host:4243:feed")
    assert sync(config_path, tmp_path).exit_code == 0
    with Store.open(config.store_url) as store:
        crashed = store.get_run(dead)
        assert crashed is not None and crashed.status == "failed"
        assert "lease expired" in (crashed.error or "")


def test_dry_run_warns_like_a_real_run_about_a_reused_integration(
    stack: Stack, config_path: Path, tmp_path: Path
) -> None:
    # an integration of the same name and group, created by someone else with other defaults
    stack.threesixty.create_integration(
        {
            "externalPlatform": "Coursera",
            "groupId": stack.world.group_id,
            "authorId": stack.world.author_id,
            "defaultCompletion": False,
            "defaultProgress": 0,
        }
    )
    preview = sync(config_path, tmp_path, "--dry-run")
    real = sync(config_path, tmp_path)
    assert preview.exit_code == real.exit_code == 0, preview.stderr + real.stderr
    assert preview.report is not None and real.report is not None
    reused = [w for w in real.report["warnings"] if "defaultCompletion=False" in w]
    assert len(reused) == 1
    assert reused[0] in preview.report["warnings"]


def test_what_was_applied_before_a_refusal_stays_recorded(stack: Stack, tmp_path: Path) -> None:
    """A 403 on the restore step (after the upsert went through) stops the run with exit 3; the
    upsert is recorded, and the next run only un-archives."""
    from learnsync.sandbox.faults import Fault

    config = archive_removed_config(stack, tmp_path)
    assert sync(config, tmp_path).exit_code == 0
    target = next(iter(expected_catalog(stack)[0].values()))
    stack.coursera.remove_content(target.external_id)
    assert sync(config, tmp_path).exit_code == 0  # archived
    stack.coursera.reset_catalog()
    stack.threesixty.faults.add(
        Fault(
            path=r"/api/v2/courses/[^/]+/archive$",
            status=403,
            body={"error": {"code": "invalid_scope", "message": "courses:write"}},
        )
    )
    refused = sync(config, tmp_path)
    assert refused.exit_code == 3
    assert "courses:write" in refused.stderr
    course = courses_of(stack)[target.external_id]
    assert course.status == "archived" and course.writes == 2  # created, then re-upserted
    again = sync(config, tmp_path)
    assert again.exit_code == 0, again.stderr
    assert again.report is not None
    assert (again.report["restored"], again.report["created"], again.report["updated"]) == (1, 0, 0)
    assert courses_of(stack)[target.external_id].status == "published"
