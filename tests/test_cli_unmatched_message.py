"""``learnsync report unmatched-learners`` says every learner's statistics were delivered only
after a statistics run delivered them: not before any run, after only dry runs, nor when the last
run failed."""

from __future__ import annotations

from pathlib import Path

from e2e_support import run_cli
from learnsync.config import load_config
from learnsync.sandbox.stack import running_stack
from learnsync.sandbox.world import World
from learnsync.store.repository import Store

DELIVERED = "every learner's statistics were delivered"
NOT_YET = "no statistics run has delivered yet: run learnsync sync stats"
# every learner known to 360Learning, every row with an e-mail: nothing unmatched
CLEAN = World(seed=11, catalog_size=20, learners=15, enrollments=60, unknown_learner_ratio=0.0)


def _report(config: Path) -> str:
    result = run_cli("report", "unmatched-learners", "--config", config)
    assert result.exit_code == 0, result.stderr
    return result.stdout


def test_no_store_and_no_run_is_not_delivered(tmp_path: Path) -> None:
    with running_stack(CLEAN) as stack:
        config = tmp_path / "learnsync.toml"
        config.write_text(stack.config_toml(f"sqlite:///{tmp_path / 's.db'}"))
        out = _report(config)  # no store at all
        assert DELIVERED not in out and NOT_YET in out
        assert run_cli("sync", "content", "--config", config).exit_code == 0
        out = _report(config)  # a store, no statistics run
        assert DELIVERED not in out and NOT_YET in out
        assert run_cli("sync", "stats", "--config", config, "--dry-run").exit_code == 0
        out = _report(config)  # only a dry run
        assert DELIVERED not in out and NOT_YET in out

        stats = run_cli("sync", "stats", "--config", config, report=tmp_path / "stats.json")
        assert stats.exit_code == 0, stats.stderr
        assert stats.report is not None and stats.report["sent"] > 0
        assert not stats.report["failed"]
        assert DELIVERED in _report(config)


def test_a_failed_last_run_is_said(tmp_path: Path) -> None:
    with running_stack(CLEAN) as stack:
        config = tmp_path / "learnsync.toml"
        config.write_text(stack.config_toml(f"sqlite:///{tmp_path / 's.db'}"))
        assert run_cli("sync", "content", "--config", config).exit_code == 0
        assert run_cli("sync", "stats", "--config", config).exit_code == 0
        assert DELIVERED in _report(config)

        # a later statistics run that failed (recorded as the statistics pipeline records one)
        settings = load_config(config)
        store = Store.open(settings.store_url)
        try:
            record = store.get_integration(settings.integration_key)
            assert record is not None
            run_id = store.start_run(record.id, "stats", False)
            store.finish_run(run_id, "failed", {}, error="360Learning answered 503")
        finally:
            store.close()
        out = _report(config)
        assert DELIVERED not in out
        assert "the last statistics run failed" in out and "learnsync sync stats" in out


def test_a_run_still_going_or_with_failed_items_is_not_delivered(tmp_path: Path) -> None:
    with running_stack(CLEAN) as stack:
        config = tmp_path / "learnsync.toml"
        config.write_text(stack.config_toml(f"sqlite:///{tmp_path / 's.db'}"))
        assert run_cli("sync", "content", "--config", config).exit_code == 0
        settings = load_config(config)
        store = Store.open(settings.store_url)
        try:
            record = store.get_integration(settings.integration_key)
            assert record is not None
            lost = {"externalId": "Course~x", "learner": "ann@example.com", "error": "lost"}
            done = store.start_run(record.id, "stats", False)
            store.finish_run(done, "succeeded", {"failed": [lost]})
            out = _report(config)
            assert DELIVERED not in out and "1 statistics items of the last run failed" in out
            store.start_run(record.id, "stats", False)  # not finished
            out = _report(config)
            assert DELIVERED not in out and "is still going" in out
        finally:
            store.close()
