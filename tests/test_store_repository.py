"""The repository against SQLite AND a real PostgreSQL (each run in its own schema)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from learnsync.store import (
    ContentItemState,
    RunItem,
    StatItemState,
    Store,
)
from store_support import T0, Clock  # the clock and store fixtures (conftest.py) start at T0


def _content(external_id: str, **overrides: object) -> ContentItemState:
    base = ContentItemState(
        external_id=external_id,
        state="active",
        course_id=f"course-{external_id}",
        sent_hash="h1",
        payload={"externalId": external_id, "name": "Intro", "subjects": ["Python"]},
        language_code="en",
        content_type="Course",
        name="Intro",
    )
    return replace(base, **overrides)


def test_reopen_is_idempotent_and_keeps_data(url: str, clock: Clock) -> None:
    with Store.open(url, clock=clock) as first:
        integration = first.get_or_create_integration("k", name="Acme")
    with Store.open(url, clock=clock) as second:  # migrations already at head: nothing to do
        assert second.get_integration("k") == integration


def test_integration_round_trip_and_partial_update(store: Store, clock: Clock) -> None:
    created = store.get_or_create_integration(
        "https://app.360learning.com|g1|Coursera",
        name="Acme",
        org_id="org-1",
        base_url="https://app.360learning.com",
        group_id="g1",
        author_id="a1",
        integration_name="Coursera",
        languages=["fr", "en"],
        content_types=("Course",),
        content_type_overrides={"Video": "course"},
        archive_removed=True,
    )
    assert created.id > 0
    assert created.created_at == created.updated_at == T0
    assert (created.org_id, created.group_id, created.author_id) == ("org-1", "g1", "a1")
    assert created.languages == ["fr", "en"]
    assert created.content_types == ["Course"]
    assert created.content_type_overrides == {"Video": "course"}
    assert created.archive_removed is True
    assert created.remote_integration_id is None

    clock.advance(minutes=5)
    again = store.get_or_create_integration(created.key, author_id="a2")
    assert again.id == created.id
    assert again.author_id == "a2"
    assert again.org_id == "org-1"  # fields not given are untouched
    assert again.created_at == T0 and again.updated_at == T0 + timedelta(minutes=5)

    clock.advance(minutes=5)
    same = store.get_or_create_integration(created.key, author_id="a2")  # nothing changed
    assert same.updated_at == again.updated_at
    assert store.get_or_create_integration(created.key) == same
    assert store.get_integration("missing") is None


def test_unknown_integration_field_is_refused(store: Store) -> None:
    with pytest.raises(TypeError, match="client_secret"):
        store.get_or_create_integration("k", client_secret="nope")


def test_remote_integration_id_and_filters_are_saved(store: Store) -> None:
    integration = store.get_or_create_integration("k")
    store.set_remote_integration_id(integration.id, "remote-42")
    store.save_filters(integration.id, ["fr", "en", "en"], {"Specialization", "Course"})
    saved = store.get_integration("k")
    assert saved is not None
    assert saved.remote_integration_id == "remote-42"
    assert saved.languages == ["en", "fr"]
    assert saved.content_types == ["Course", "Specialization"]
    store.save_filters(integration.id, [], [])
    cleared = store.get_integration("k")
    assert cleared is not None and (cleared.languages, cleared.content_types) == ([], [])
    with pytest.raises(LookupError):
        store.save_filters(integration.id + 999, [], [])


def test_content_round_trip_every_field(store: Store, clock: Clock) -> None:
    iid = store.get_or_create_integration("k").id
    item = _content(
        "Course~abc",
        skip_reason=None,
        last_error="upsert failed: 500",
        in_catalog=False,
        first_seen_at=T0 - timedelta(days=3),
        last_seen_at=T0 - timedelta(days=1),
    )
    skipped = ContentItemState(
        external_id="Course~skip", state="skipped", skip_reason="unsupported_language"
    )
    store.save_content_items(iid, [item, skipped])
    loaded = store.load_content_items(iid)
    assert loaded["Course~abc"] == replace(item, updated_at=T0)
    assert loaded["Course~skip"] == replace(
        skipped, first_seen_at=T0, last_seen_at=T0, updated_at=T0
    )


def test_content_upsert_updates_only_given_rows(store: Store, clock: Clock) -> None:
    iid = store.get_or_create_integration("k").id
    other_iid = store.get_or_create_integration("other").id
    store.save_content_items(iid, [_content("Course~a"), _content("Course~b")])
    store.save_content_items(other_iid, [_content("Course~a")])

    clock.advance(hours=1)
    store.save_content_items(
        iid,
        [
            _content(
                "Course~a",
                sent_hash="h2",
                state="archived_filter",
                first_seen_at=T0 + timedelta(hours=1),
            ),
            _content("Course~c"),
        ],
    )
    loaded = store.load_content_items(iid)
    assert set(loaded) == {"Course~a", "Course~b", "Course~c"}
    assert loaded["Course~a"].sent_hash == "h2"
    assert loaded["Course~a"].state == "archived_filter"
    assert loaded["Course~a"].first_seen_at == T0  # written once, kept
    assert loaded["Course~a"].updated_at == T0 + timedelta(hours=1)
    assert loaded["Course~b"] == replace(
        _content("Course~b"), first_seen_at=T0, last_seen_at=T0, updated_at=T0
    )
    assert store.load_content_items(other_iid)["Course~a"].sent_hash == "h1"


def test_content_state_is_validated(store: Store) -> None:
    iid = store.get_or_create_integration("k").id
    with pytest.raises(ValueError, match="state"):
        store.save_content_items(iid, [_content("Course~a", state="deleted")])
    with pytest.raises(ValueError, match="aware"):
        store.save_content_items(iid, [_content("Course~a", first_seen_at=datetime(2024, 1, 1))])
    assert store.load_content_items(iid) == {}


def test_stat_round_trip_and_upsert_rules(store: Store, clock: Clock) -> None:
    iid = store.get_or_create_integration("k").id
    completed_at = T0 - timedelta(hours=2)
    first = [
        StatItemState(
            "Course~a",
            "ann@example.com",
            "sent",
            (100 << 32) | 12345,  # what the statistics diff stores (item_hash)
            True,
            T0 - timedelta(days=2),
            completed_at,
        ),
        StatItemState("Course~a", "bob@example.com", "failed", None, False, None, None, "400 bad"),
        StatItemState("Course~b", "ann@example.com", "skipped"),
    ]
    store.save_stat_items(iid, first)
    loaded = {(s.external_id, s.learner): s for s in store.iter_stat_items(iid)}
    assert loaded[("Course~a", "ann@example.com")] == replace(first[0], updated_at=T0)
    assert loaded[("Course~a", "bob@example.com")] == replace(
        first[1], first_seen_at=T0, updated_at=T0
    )
    assert loaded[("Course~b", "ann@example.com")].first_seen_at == T0

    clock.advance(days=1)
    later = T0 + timedelta(days=1)
    store.save_stat_items(
        iid,
        [
            # a not-completed update cannot un-complete, nor move the stored dates
            StatItemState("Course~a", "ann@example.com", "sent", 7, False, later, later),
            StatItemState("Course~a", "bob@example.com", "sent", 8, True, later, later),
        ],
    )
    after = {(s.external_id, s.learner): s for s in store.iter_stat_items(iid)}
    ann = after[("Course~a", "ann@example.com")]
    assert (ann.sent_hash, ann.sent_completed) == (7, True)
    assert (ann.first_seen_at, ann.completed_seen_at) == (T0 - timedelta(days=2), completed_at)
    bob = after[("Course~a", "bob@example.com")]
    assert (bob.state, bob.sent_hash, bob.sent_completed, bob.last_error) == ("sent", 8, True, None)
    assert (bob.first_seen_at, bob.completed_seen_at, bob.updated_at) == (T0, later, later)
    assert after[("Course~b", "ann@example.com")] == loaded[("Course~b", "ann@example.com")]


def test_delete_skipped_stat_items_deletes_only_those_skips(store: Store) -> None:
    iid = store.get_or_create_integration("k").id
    other = store.get_or_create_integration("other").id
    skip = "no_learner_email"
    store.save_stat_items(
        iid,
        [
            StatItemState("Course~a", "EMP-1", "skipped", last_error=skip),
            StatItemState("Course~b", "EMP-1", "skipped", last_error=skip),
            StatItemState("Course~a", "ann@example.com", "sent", 5),
            StatItemState("Course~a", "bob@example.com", "failed", last_error="userNotFound"),
        ],
    )
    store.save_stat_items(other, [StatItemState("Course~a", "EMP-1", "skipped", last_error=skip)])
    store.delete_skipped_stat_items(
        iid,
        [("Course~a", "EMP-1"), ("Course~a", "ann@example.com"), ("Course~a", "bob@example.com")],
    )
    assert {(s.external_id, s.learner) for s in store.iter_stat_items(iid)} == {
        ("Course~b", "EMP-1"),
        ("Course~a", "ann@example.com"),
        ("Course~a", "bob@example.com"),
    }
    assert [(s.external_id, s.learner) for s in store.iter_stat_items(other)] == [
        ("Course~a", "EMP-1")
    ]
    store.delete_skipped_stat_items(iid, [])


def test_stat_bulk_path_handles_many_rows_and_duplicates(store: Store) -> None:
    """Enough rows for the COPY path on PostgreSQL; a duplicated key keeps the last row."""
    iid = store.get_or_create_integration("k").id
    rows = [StatItemState(f"Course~{i % 50}", f"l{i // 50}@x.org", "sent", i) for i in range(3000)]
    rows.append(StatItemState("Course~0", "l0@x.org", "sent", -1))
    store.save_stat_items(iid, rows)
    loaded = {(s.external_id, s.learner): s for s in store.iter_stat_items(iid)}
    assert len(loaded) == 3000
    assert loaded[("Course~0", "l0@x.org")].sent_hash == -1
    assert loaded[("Course~7", "l3@x.org")].sent_hash == 157
    assert all(
        s.first_seen_at is not None and s.first_seen_at.tzinfo is UTC for s in loaded.values()
    )
    store.save_stat_items(iid, [replace(r, sent_hash=0) for r in rows[:2000]])
    changed = {(s.external_id, s.learner): s.sent_hash for s in store.iter_stat_items(iid)}
    assert sum(1 for h in changed.values() if h == 0) == 2000


def test_stats_are_per_integration(store: Store) -> None:
    a = store.get_or_create_integration("a").id
    b = store.get_or_create_integration("b").id
    store.save_stat_items(a, [StatItemState("Course~x", "l@x.org", "sent", 1)])
    assert list(store.iter_stat_items(b)) == []
    assert [s.sent_hash for s in store.iter_stat_items(a)] == [1]


def test_runs_and_run_items(store: Store, clock: Clock) -> None:
    iid = store.get_or_create_integration("k").id
    first = store.start_run(iid, "content", dry_run=False)
    store.add_run_items(
        first,
        [
            RunItem("Course~a", "created"),
            RunItem("Course~b", "skipped", detail="missing_name"),
            RunItem("Course~c", "failed", learner="ann@example.com", detail="HTTP 500"),
        ],
    )
    clock.advance(minutes=1)
    store.finish_run(first, "succeeded", {"kind": "content", "created": 1})
    clock.advance(minutes=1)
    second = store.start_run(iid, "stats", dry_run=True)
    store.add_run_items(
        second, [RunItem(f"Course~{i}", "sent", f"l{i}@x.org") for i in range(1200)]
    )
    clock.advance(minutes=1)
    store.finish_run(second, "failed", {}, error="boom")

    runs = store.list_runs(iid)
    assert [r.id for r in runs] == [second, first]
    newest, oldest = runs
    assert (newest.kind, newest.dry_run, newest.status, newest.error) == (
        "stats",
        True,
        "failed",
        "boom",
    )
    assert (oldest.kind, oldest.dry_run, oldest.status) == ("content", False, "succeeded")
    assert oldest.report == {"kind": "content", "created": 1}
    assert oldest.started_at == T0 and oldest.finished_at == T0 + timedelta(minutes=1)
    assert store.list_runs(iid, limit=1) == [newest]
    assert store.list_run_items(first) == [
        RunItem("Course~a", "created"),
        RunItem("Course~b", "skipped", detail="missing_name"),
        RunItem("Course~c", "failed", learner="ann@example.com", detail="HTTP 500"),
    ]
    assert len(store.list_run_items(second)) == 1200


def test_run_items_are_never_deleted(store: Store) -> None:
    iid = store.get_or_create_integration("k").id
    run = store.start_run(iid, "content", dry_run=False)
    store.add_run_items(run, [RunItem("Course~a", "created")])
    # later activity of every kind leaves earlier audit rows in place
    store.save_content_items(iid, [_content("Course~a", state="archived_removed")])
    store.save_filters(iid, ["en"], [])
    store.finish_run(run, "succeeded", {})
    store.add_run_items(run, [RunItem("Course~a", "archived")])
    later = store.start_run(iid, "filters", dry_run=False)
    store.finish_run(later, "succeeded", {})
    assert [i.action for i in store.list_run_items(run)] == ["created", "archived"]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s, iid, run: s.start_run(iid, "everything", False), "run kind"),
        (lambda s, iid, run: s.finish_run(run, "done", {}), "run status"),
        (lambda s, iid, run: s.add_run_items(run, [RunItem("x", "deleted")]), "action"),
        (lambda s, iid, run: s.save_stat_items(iid, [StatItemState("x", "l", "ok")]), "state"),
    ],
)
def test_enumerations_are_validated(store: Store, call: object, message: str) -> None:
    iid = store.get_or_create_integration("k").id
    run = store.start_run(iid, "content", False)
    with pytest.raises(ValueError, match=message):
        call(store, iid, run)  # type: ignore[operator]


def test_timestamps_come_back_aware_utc(url: str) -> None:
    paris = datetime(2024, 5, 1, 10, 45, tzinfo=ZoneInfo("Europe/Paris"))  # 08:45 UTC
    with Store.open(url, clock=lambda: paris) as s:
        iid = s.get_or_create_integration("k").id
        s.save_content_items(iid, [_content("Course~a")])
        s.save_stat_items(
            iid, [StatItemState("Course~a", "l@x.org", "sent", 1, True, paris, paris)]
        )
        run = s.start_run(iid, "content", False)
        s.finish_run(run, "succeeded", {})
        [stat] = s.iter_stat_items(iid)
        values = [
            *(getattr(s.get_integration("k"), f) for f in ("created_at", "updated_at")),
            *(
                getattr(s.load_content_items(iid)["Course~a"], f)
                for f in ("first_seen_at", "last_seen_at", "updated_at")
            ),
            *(getattr(stat, f) for f in ("first_seen_at", "completed_seen_at", "updated_at")),
            *(getattr(s.list_runs(iid)[0], f) for f in ("started_at", "finished_at")),
        ]
    expected = datetime(2024, 5, 1, 8, 45, tzinfo=UTC)
    assert all(v is not None and v.tzinfo is UTC for v in values), values
    assert all(v == expected for v in values)


def test_store_open_refuses_a_naive_clock(url: str) -> None:
    with (
        Store.open(url, clock=lambda: datetime(2024, 1, 1)) as s,
        pytest.raises(ValueError, match="naive"),
    ):
        s.get_or_create_integration("k")


def test_two_processes_cannot_both_start_a_writing_run(url: str) -> None:
    """Threads with their own Store (own connections) race for the lease; exactly one wins, the
    others' runs are recorded cancelled (``learnsync.sync.runner.begin_run``)."""
    import threading

    from learnsync.errors import LearnsyncError
    from learnsync.sync.runner import begin_run

    with Store.open(url) as first:
        iid = first.get_or_create_integration("race").id
    stores = [Store.open(url) for _ in range(4)]
    barrier = threading.Barrier(len(stores))
    outcomes: list[str] = []

    def attempt(store: Store) -> None:
        barrier.wait()
        try:
            begin_run(store, iid, "content", what="content synchronization", wait=False)
            outcomes.append("started")
        except LearnsyncError:
            outcomes.append("refused")

    threads = [threading.Thread(target=attempt, args=(s,)) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["refused", "refused", "refused", "started"]
    statuses = sorted(r.status for r in stores[0].list_runs(iid))
    for s in stores:
        s.close()
    assert statuses == ["cancelled", "cancelled", "cancelled", "running"]
