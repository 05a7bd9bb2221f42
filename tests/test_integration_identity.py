"""One integration, one stable id (issue 9): renaming an integration (its 360Learning name, its
platform URL or group) in the service keeps its store row, so its filters, runs, content and
statistics states stay with it; the 360Learning integration is renamed, not duplicated; and
``[sync.content_types]`` overrides survive an import and every save of the settings form."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient

from e2e_support import admin_login, run_cli
from learnsync.config import parse_config
from learnsync.sandbox.stack import Stack
from learnsync.service.core import Service
from learnsync.service.integrations import IntegrationInput, input_from_config
from learnsync.service.secrets import SecretBox
from learnsync.web import create_app

OVERRIDES = {"GuidedProject": "course", "Specialization": "program"}


@pytest.fixture
def service(tmp_path: Path, stack: Stack) -> Iterator[Service]:
    service = Service(f"sqlite:///{tmp_path / 'svc.db'}", SecretBox.generate())
    service.auth.create_user("admin", "admin-password-1")
    raw = tomllib.loads(stack.config_toml(service.store_url))
    service.integrations.save(input_from_config(parse_config(raw), "Coursera"))
    yield service
    service.close()


def _run(service: Service, integration_id: int, kind: str) -> dict[str, Any]:
    service.runs.start(integration_id, kind)
    service.runs.wait()
    live = service.runs.latest(integration_id)
    assert live is not None and live.status == "succeeded", live and live.message
    report = service.store.list_runs(integration_id, 1)[0].report
    assert report is not None
    return report


def _bulk_writes(stack: Stack) -> int:
    return sum(n for route, n in stack.threesixty.request_counts.items() if "/bulk/" in route)


def _edit(service: Service, integration_id: int, **changes: Any) -> IntegrationInput:
    from learnsync.web.views import input_of

    data = input_of(service.integrations.get(integration_id))
    return data.model_copy(update=changes)


def _remote(stack: Stack) -> list[tuple[str, str]]:
    return [(i.id, i.name) for i in stack.threesixty.integrations.values() if i.active]


def _first_syncs(service: Service) -> tuple[str, int, int]:
    """Filters saved, one content and one statistics run; the remote id and state sizes."""
    service.store.save_filters(1, ["en"], [])
    first = _run(service, 1, "content")
    assert first["created"] > 0
    _run(service, 1, "stats")
    record = service.store.get_integration(1)
    assert record is not None and record.remote_integration_id
    states = service.store.load_content_items(1)
    stats = list(service.store.iter_stat_items(1))
    assert states and stats
    return record.remote_integration_id, len(states), len(stats)


def _assert_kept(
    service: Service, stack: Stack, remote_id: str, sizes: tuple[int, int], new_name: str
) -> None:
    """After a rename: same row, filters, states; the next syncs send nothing new."""
    record = service.store.get_integration(1)
    assert record is not None
    assert record.languages == ["en"]  # the saved filters
    assert len(service.store.load_content_items(1)) == sizes[0]
    assert len(list(service.store.iter_stat_items(1))) == sizes[1]
    assert len(service.store.list_runs(1)) == 2  # the run history
    writes = _bulk_writes(stack)
    again = _run(service, 1, "content")
    assert (again["created"], again["updated"], again["archived"], again["restored"]) == (
        0,
        0,
        0,
        0,
    )
    assert not any("changed" in w for w in again.get("warnings", [])), again.get("warnings")
    assert _run(service, 1, "stats")["sent"] == 0
    assert _bulk_writes(stack) == writes  # nothing sent again
    # the one 360Learning integration was renamed, not another one created
    assert _remote(stack) == [(remote_id, new_name)]
    assert service.store.get_integration(1).remote_integration_id == remote_id  # type: ignore[union-attr]
    assert service.integrations.config(1).threesixty.integration_name == new_name


def test_rename_through_the_service_keeps_filters_runs_and_states(
    service: Service, stack: Stack
) -> None:
    remote_id, *sizes = _first_syncs(service)
    service.integrations.save(_edit(service, 1, integration_name="Coursera (renamed)"), 1)
    assert service.integrations.get(1).id == 1
    _assert_kept(service, stack, remote_id, (sizes[0], sizes[1]), "Coursera (renamed)")


def test_rename_through_the_json_api_keeps_filters_runs_and_states(
    service: Service, stack: Stack
) -> None:
    remote_id, *sizes = _first_syncs(service)
    client = TestClient(create_app(service), follow_redirects=False)
    csrf = admin_login(client)
    body = client.get("/api/integrations/1").json()["settings"]
    assert body["integration_name"] == "Coursera"
    body.update(integration_name="Coursera via API", threesixty_base_url=stack.threesixty_url + "/")
    answer = client.put("/api/integrations/1", json=body, headers={"X-CSRF-Token": csrf})
    assert answer.status_code == 200, answer.text
    assert answer.json()["id"] == 1
    assert answer.json()["settings"]["integration_name"] == "Coursera via API"
    assert answer.json()["secrets_set"]["coursera_client_secret"] is True  # blank: kept
    _assert_kept(service, stack, remote_id, (sizes[0], sizes[1]), "Coursera via API")


def test_rename_through_the_settings_form_and_setup_renames_in_360learning(
    service: Service, stack: Stack
) -> None:
    remote_id, *sizes = _first_syncs(service)
    client = TestClient(create_app(service), follow_redirects=False)
    csrf = admin_login(client)
    form = {"csrf_token": csrf, "action": "setup"}
    form.update(_edit(service, 1, integration_name="Coursera form").settings())
    form["archive_removed"] = ""
    form["content_type_overrides"] = ""
    answer = client.post("/integrations/1", data=form)
    assert answer.status_code == 200, answer.text
    assert "Integration set up" in answer.text
    # Setup integration renamed the remembered 360Learning integration
    assert _remote(stack) == [(remote_id, "Coursera form")]
    _assert_kept(service, stack, remote_id, (sizes[0], sizes[1]), "Coursera form")


def test_a_new_integration_with_a_renamed_ones_old_settings_is_another_integration(
    service: Service, stack: Stack
) -> None:
    service.integrations.save(_edit(service, 1, integration_name="Renamed"), 1)
    original = input_from_config(parse_config(tomllib.loads(stack.config_toml())), "Again")
    second = service.integrations.save(original)
    assert second != 1
    first, other = service.integrations.get(1), service.integrations.get(second)
    assert other.key == first.key + "#2"  # the first keeps the key it was created with
    assert service.integrations.config(second).integration_id == second


def test_a_config_file_run_finds_the_service_integration_by_its_key(
    service: Service, stack: Stack, tmp_path: Path
) -> None:
    """Import adopts what --config runs wrote; a --config run finds the imported row by key."""
    config = tmp_path / "learnsync.toml"
    config.write_text(stack.config_toml(service.store_url), encoding="utf-8")
    result = run_cli("sync", "content", "--config", config)
    assert result.exit_code == 0, result.stderr
    record = service.store.get_integration(
        parse_config(tomllib.loads(config.read_text())).integration_key
    )
    assert record is not None and record.id == 1  # the service integration's row
    assert [r.kind for r in service.store.list_runs(1)] == ["content"]


# ---------------------------------------------------------------- [sync.content_types]


def _with_overrides(stack: Stack, store_url: str) -> str:
    return (
        stack.config_toml(store_url)
        + "\n[sync.content_types]\n"
        + "".join(f'{k} = "{v}"\n' for k, v in OVERRIDES.items())
    )


def test_overrides_survive_the_cli_import(
    tmp_path: Path, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = Fernet.generate_key()
    monkeypatch.setenv("LEARNSYNC_SECRET_KEY", key.decode())
    box = SecretBox(key)
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    config = tmp_path / "c.toml"
    config.write_text(_with_overrides(stack, url), encoding="utf-8")
    from learnsync.cli import service as _commands  # noqa: F401 - registers `integrations`

    for _ in range(2):  # import, then update by name
        result = run_cli("integrations", "import", "--config", config, "--name", "Imported")
        assert result.exit_code == 0, result.stderr
    service = Service(url, box)
    try:
        (item,) = service.repo.list_integrations()
        assert item.content_type_overrides == OVERRIDES
        assert dict(service.integrations.config(item.id).sync.content_types) == OVERRIDES
    finally:
        service.close()


def test_overrides_survive_the_web_import_and_every_form_save(
    service: Service, stack: Stack
) -> None:
    client = TestClient(create_app(service), follow_redirects=False)
    csrf = admin_login(client)
    answer = client.post(
        "/import",
        data={"csrf_token": csrf, "label": "Coursera"},
        files={"config": ("c.toml", _with_overrides(stack, "sqlite://").encode(), "text/plain")},
    )
    assert answer.status_code == 303, answer.text
    assert service.integrations.get(1).content_type_overrides == OVERRIDES

    page = client.get("/integrations/1").text
    assert "GuidedProject = course" in page and "Specialization = program" in page
    form = {"csrf_token": csrf, "action": "save", **_edit(service, 1).settings()}
    form["content_type_overrides"] = _edit(service, 1).overrides_text()  # as the page shows it
    form["archive_removed"] = ""
    assert client.post("/integrations/1", data=form).status_code == 303
    assert service.integrations.get(1).content_type_overrides == OVERRIDES
    assert dict(service.integrations.config(1).sync.content_types) == OVERRIDES

    form["content_type_overrides"] = "GuidedProject = nonsense"
    refused = client.post("/integrations/1", data=form)
    assert refused.status_code == 400
    assert "is not a 360Learning content type" in refused.text
    assert service.integrations.get(1).content_type_overrides == OVERRIDES

    body = client.get("/api/integrations/1").json()["settings"]
    assert body["content_type_overrides"] == OVERRIDES
    body["content_type_overrides"] = {"GuidedProject": "video"}
    put = client.put("/api/integrations/1", json=body, headers={"X-CSRF-Token": csrf})
    assert put.status_code == 200, put.text
    assert service.integrations.get(1).content_type_overrides == {"GuidedProject": "video"}


def test_the_client_renames_the_remembered_integration(stack: Stack) -> None:
    """``PATCH /api/v2/integrations/{id}`` against the simulator (the contract's update)."""
    from learnsync.sync.context import open_clients

    config = parse_config(tomllib.loads(stack.config_toml("sqlite://")))
    clients = open_clients(config)
    try:
        t = config.threesixty
        made, _ = clients.threesixty.ensure_integration(
            name="Old", group_id=t.group_id, author_id=t.author_id
        )
        renamed, _ = clients.threesixty.ensure_integration(
            name="New", group_id=t.group_id, author_id=t.author_id, known_id=str(made["_id"])
        )
        assert renamed["_id"] == made["_id"] and renamed["externalPlatform"] == "New"
        assert [i["_id"] for i in clients.threesixty.list_integrations("New")] == [made["_id"]]
        assert clients.threesixty.list_integrations("Old") == []
        # a remembered integration deleted in 360Learning: a new one is created
        stack.threesixty.delete_integration(str(made["_id"]))
        fresh, _ = clients.threesixty.ensure_integration(
            name="New", group_id=t.group_id, author_id=t.author_id, known_id=str(made["_id"])
        )
        assert fresh["_id"] != made["_id"]
    finally:
        clients.close()


def test_a_filter_preview_after_a_rename_creates_nothing_and_the_save_renames(
    service: Service, stack: Stack
) -> None:
    remote_id, *_ = _first_syncs(service)
    service.integrations.save(_edit(service, 1, integration_name="Previewed"), 1)
    client = TestClient(create_app(service), follow_redirects=False)
    csrf = admin_login(client)
    form = {"csrf_token": csrf, "which": "languages", "value": "en"}
    preview = client.post("/integrations/1/filters", data=form)
    assert preview.status_code == 200, preview.text
    assert "0 courses will be archived, 0 restored" in preview.text
    assert _remote(stack) == [(remote_id, "Coursera")]  # a preview writes nothing
    saved = client.post("/integrations/1/filters", data={**form, "confirm": "1"})
    assert saved.status_code == 303, saved.text  # to the filters run's page, at once
    service.runs.wait()
    run = client.get("/api/runs/" + saved.headers["location"].rsplit("/", 1)[1]).json()
    assert run["kind"] == "filters" and run["status"] == "succeeded", run
    assert _remote(stack) == [(remote_id, "Previewed")]
    assert service.store.get_integration(1).languages == ["en"]  # type: ignore[union-attr]


def test_the_json_api_creates_an_integration_from_the_schema(
    service: Service, stack: Stack
) -> None:
    client = TestClient(create_app(service), follow_redirects=False)
    csrf = admin_login(client)
    body = input_from_config(
        parse_config(tomllib.loads(stack.config_toml())), "From the API"
    ).model_dump()
    body.update(integration_name="API integration", content_type_overrides=OVERRIDES)
    made = client.post("/api/integrations", json=body, headers={"X-CSRF-Token": csrf})
    assert made.status_code == 201, made.text
    new_id = made.json()["id"]
    assert made.json()["settings"]["content_type_overrides"] == OVERRIDES
    assert "coursera_client_secret" not in made.json()["settings"]  # secrets never come back
    assert service.integrations.config(new_id).integration_id == new_id
    taken = client.post("/api/integrations", json=body, headers={"X-CSRF-Token": csrf})
    assert taken.status_code == 400 and "From the API" in taken.json()["detail"]
    unknown = client.post(
        "/api/integrations", json={**body, "nope": 1}, headers={"X-CSRF-Token": csrf}
    )
    assert unknown.status_code == 422  # the schema refuses unknown fields
