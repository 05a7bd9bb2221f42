"""Migration 0004 (one integration, one stable id) upgrades a store the previous release wrote:
``service_integrations`` merged into ``integrations``, nothing lost (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from alembic import command
from sqlalchemy import Connection, Engine, MetaData, func, inspect, select, text

from learnsync.store import Store
from learnsync.store.db import alembic_config, create_store_engine
from learnsync.store.service_repository import ServiceRepository

T0 = datetime(2026, 11, 30, 8, 45, tzinfo=UTC)
G = "a" * 24
AUTHOR = "b" * 24
BASE = "https://app.360learning.com"
KEY_A = f"{BASE}|{G}|Coursera"


def _to(url: str, revision: str) -> Engine:
    engine = create_store_engine(url)
    with engine.begin() as conn:
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    return engine


def _integration(key: str, **extra: Any) -> dict[str, Any]:
    return {
        "key": key,
        "name": key.rsplit("|", 1)[-1],
        "org_id": "org",
        "base_url": key.split("|")[0],
        "group_id": key.split("|")[1],
        "author_id": AUTHOR,
        "integration_name": key.rsplit("|", 1)[-1],
        "remote_integration_id": None,
        "languages": [],
        "content_types": [],
        "content_type_overrides": {},
        "archive_removed": False,
        "created_at": T0,
        "updated_at": T0,
        **extra,
    }


def _service(id_: int, label: str, name: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": id_,
        "label": label,
        "coursera_org_id": f"org-{id_}",
        "coursera_client_id": f"cid-{id_}",
        "coursera_client_secret_enc": f"enc-secret-{id_}",
        "coursera_refresh_token_enc": f"enc-token-{id_}",
        "coursera_api_base": "https://api.coursera.org/api",
        "coursera_token_url": "https://accounts.coursera.org/oauth2/v1/token",
        "coursera_program_id": "",
        "coursera_auth": "refresh_token",
        "threesixty_base_url": BASE,
        "threesixty_client_id": f"tcid-{id_}",
        "threesixty_client_secret_enc": f"enc-tsecret-{id_}",
        "group_id": G,
        "author_id": AUTHOR,
        "integration_name": name,
        "archive_removed": id_ == 1,
        "content_type_overrides": {},
        "setup_status": "ok",
        "setup_message": "fine",
        "setup_checked_at": T0,
        "coursera_token_used_at": T0 + timedelta(days=id_),
        "created_at": T0 - timedelta(days=10),
        "updated_at": T0 - timedelta(days=1),
    }


def _release_0003_store(conn: Connection) -> dict[str, Any]:
    """What the previous release wrote: a config-file-only integration (CLI runs) whose id is
    1, a service integration (service id 1) that ran (store id 2), one that never ran (service
    id 2, no store row yet: its id collides with the first's store id), their schedules and a
    run lock, item states, runs and audit rows."""
    meta = MetaData()
    meta.reflect(conn)
    t = meta.tables
    conn.execute(
        t["integrations"].insert(),
        [
            _integration("https://cli.example|" + "c" * 24 + "|Cli", languages=["fr"]),
            _integration(
                KEY_A,
                remote_integration_id="d" * 24,
                languages=["en", "es"],
                content_types=["Course"],
                content_type_overrides={"GuidedProject": "course"},
            ),
        ],
    )
    ids = dict(conn.execute(select(t["integrations"].c.key, t["integrations"].c.id)).all())
    cli_id, a_id = ids["https://cli.example|" + "c" * 24 + "|Cli"], ids[KEY_A]
    conn.execute(
        t["service_integrations"].insert(),
        [_service(1, "Main", "Coursera"), _service(2, "Second", "Coursera 2")],
    )
    conn.execute(
        t["schedules"].insert(),
        [
            {
                "integration_id": sid,
                "kind": kind,
                "time_of_day": at,
                "timezone": "Europe/Paris",
                "enabled": sid == 1,
                "last_slot_at": T0 + timedelta(hours=sid),
            }
            for sid in (1, 2)
            for kind, at in (("content", "08:45"), ("stats", "09:00"))
        ],
    )
    conn.execute(
        t["run_locks"].insert(),
        {
            "integration_id": 2,
            "owner": "host-1",
            "kind": "content",
            "acquired_at": T0,
            "expires_at": T0 + timedelta(minutes=10),
        },
    )
    for iid in (cli_id, a_id):
        conn.execute(
            t["content_items"].insert(),
            {
                "integration_id": iid,
                "external_id": f"Course~{iid}",
                "course_id": "e" * 24,
                "sent_hash": "h",
                "payload": {"name": "x"},
                "state": "active",
                "in_catalog": True,
                "first_seen_at": T0,
                "last_seen_at": T0,
                "updated_at": T0,
            },
        )
        conn.execute(
            t["stat_items"].insert(),
            {
                "integration_id": iid,
                "external_id": f"Course~{iid}",
                "learner": "ada@example.com",
                "sent_hash": 42,
                "sent_completed": True,
                "state": "sent",
                "first_seen_at": T0,
                "completed_seen_at": T0,
                "updated_at": T0,
            },
        )
        run = conn.execute(
            t["runs"]
            .insert()
            .values(
                integration_id=iid,
                kind="content",
                dry_run=False,
                status="succeeded",
                started_at=T0,
                finished_at=T0,
                report={"created": 1},
            )
            .returning(t["runs"].c.id)
        ).scalar_one()
        conn.execute(
            t["run_items"].insert(),
            {"run_id": run, "external_id": f"Course~{iid}", "action": "created"},
        )
    return {"cli": cli_id, "a": a_id}


def _count(conn: Connection, table: str) -> int:
    return int(conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one())


def _prepared(url: str) -> tuple[dict[str, Any], dict[str, int]]:
    engine = _to(url, "0003")
    try:
        with engine.begin() as conn:
            ids = _release_0003_store(conn)
            tables = ("content_items", "stat_items", "runs", "run_items")
            return ids, {t: _count(conn, t) for t in tables}
    finally:
        engine.dispose()


def test_0004_merges_the_service_integrations_and_loses_nothing(url: str) -> None:
    ids, before = _prepared(url)
    engine = _to(url, "0004")
    try:
        assert "service_integrations" not in inspect(engine).get_table_names()
        with engine.connect() as conn:
            assert {t: _count(conn, t) for t in before} == before
            assert _count(conn, "integrations") == 3  # cli, Main (merged), Second (created)
            rows = conn.execute(
                text(
                    "SELECT i.id, i.languages, i.remote_integration_id, c.external_id, "
                    "s.learner, r.status FROM integrations i "
                    "JOIN content_items c ON c.integration_id = i.id "
                    "JOIN stat_items s ON s.integration_id = i.id "
                    "JOIN runs r ON r.integration_id = i.id ORDER BY i.id"
                )
            ).all()
        assert [(r[0], r[3], r[4], r[5]) for r in rows] == [
            (iid, f"Course~{iid}", "ada@example.com", "succeeded")
            for iid in sorted((ids["cli"], ids["a"]))
        ]
        repo = ServiceRepository(engine)
        main, second = repo.list_integrations()  # labelled ones only, by label
        assert (main.label, second.label) == ("Main", "Second")

        # Main: its service settings on the store row it shared by key, whose state stays
        assert main.id == ids["a"]
        assert main.key == KEY_A
        assert main.coursera_org_id == "org-1" and main.coursera_client_id == "cid-1"
        assert main.threesixty_base_url == BASE and main.archive_removed is True
        assert main.setup_status == "ok" and main.setup_message == "fine"
        assert main.coursera_token_used_at == T0 + timedelta(days=1)
        assert repo.get_encrypted_secrets(main.id) == {
            "coursera_client_secret_enc": "enc-secret-1",
            "coursera_refresh_token_enc": "enc-token-1",
            "threesixty_client_secret_enc": "enc-tsecret-1",
        }
        # the service row's overrides were always saved empty: the run's are kept
        assert main.content_type_overrides == {"GuidedProject": "course"}

        # Second never ran: a new row with the key the runs would have used
        assert second.id not in ids.values()
        assert second.key == f"{BASE}|{G}|Coursera 2"
        assert repo.get_encrypted_secrets(second.id)["coursera_refresh_token_enc"] == "enc-token-2"

        # schedules and the run lock follow their integration (service id → store id)
        schedules = {(s.integration_id, s.kind): s for s in repo.list_schedules()}
        assert set(schedules) == {
            (i, k) for i in (main.id, second.id) for k in ("content", "stats")
        }
        assert schedules[(main.id, "content")].enabled is True
        assert schedules[(second.id, "stats")].enabled is False
        assert schedules[(second.id, "stats")].last_slot_at == T0 + timedelta(hours=2)
        with engine.connect() as conn:
            locks = conn.execute(text("SELECT integration_id, owner FROM run_locks")).all()
        assert [tuple(lock) for lock in locks] == [(second.id, "host-1")]
        # the config-file-only integration: no label, not listed by the service
        assert repo.get_integration(ids["cli"]) is None
    finally:
        engine.dispose()


def test_a_release_0003_store_opens_at_the_newest_revision_with_its_state(url: str) -> None:
    """Also a regression test: on SQLite, 0007 rebuilds ``runs`` (its CHECK constraint) while
    ``run_items`` rows refer to it — refused with foreign keys on, so upgrades run with them off
    and checked before the commit (``store.db._sqlite_immediate``)."""
    ids, before = _prepared(url)
    with Store.open(url) as store:  # learnsync's own upgrade, to the newest revision
        with store.engine.connect() as conn:
            assert {t: _count(conn, t) for t in before} == before
        main = ServiceRepository.of_store(store).list_integrations()[0]
        record = store.get_integration(main.id)
        assert record is not None and record.id == ids["a"]
        assert record.languages == ["en", "es"] and record.content_types == ["Course"]
        assert record.remote_integration_id == "d" * 24
        assert store.get_integration(KEY_A) == record  # a --config run still finds it by key
        assert set(store.load_content_items(main.id)) == {f"Course~{ids['a']}"}
        assert [s.learner for s in store.iter_stat_items(main.id)] == ["ada@example.com"]
        assert [r.status for r in store.list_runs(main.id)] == ["succeeded"]
        cli = store.get_integration(ids["cli"])
        assert cli is not None and cli.languages == ["fr"]
        assert [r.status for r in store.list_runs(ids["cli"])] == ["succeeded"]


def test_0004_then_a_second_unlabelled_row_and_the_label_stays_unique(url: str) -> None:
    """Several config-file integrations (NULL label) coexist; two equal labels do not."""
    with Store.open(url) as store:
        store.get_or_create_integration("k1")
        store.get_or_create_integration("k2")
        repo = ServiceRepository.of_store(store)
        settings = {"label": "Same", "integration_name": "X", "group_id": G}
        repo.create_integration(settings, {}, key="k3")
        try:
            repo.create_integration(settings, {}, key="k4")
        except ValueError as exc:
            assert "Same" in str(exc)
        else:
            raise AssertionError("a second integration with the same label was stored")
        with store.engine.connect() as conn:
            assert (
                conn.execute(select(func.count()).select_from(text("integrations"))).scalar() == 3
            )


def test_0004_downgrade_gives_the_service_integrations_back(url: str) -> None:
    engine = _to(url, "0003")
    try:
        with engine.begin() as conn:
            _release_0003_store(conn)
        with engine.begin() as conn:
            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0004")
            command.downgrade(cfg, "0003")
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT label, integration_name FROM service_integrations ORDER BY label")
            ).all()
            assert [tuple(r) for r in rows] == [("Main", "Coursera"), ("Second", "Coursera 2")]
            assert _count(conn, "schedules") == 4 and _count(conn, "run_locks") == 1
            assert _count(conn, "content_items") == 2 and _count(conn, "runs") == 2
            columns = {c["name"] for c in inspect(conn).get_columns("integrations")}
            assert "label" not in columns
    finally:
        engine.dispose()
