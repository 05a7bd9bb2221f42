"""A failed bulk operation among several batches, end to end: `sync content` against the
simulators (in-process CLI), with batches made small so a small catalog spans several.

The rule (docs/waiting.md#when-a-batch-fails): the batch whose operation ends in ``error`` fails
alone; the batches in flight behind it and the next ones are sent and created; the next run sends
only the failed batch again.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from e2e_support import courses_of, expected_catalog, run_cli
from learnsync.sandbox.stack import Stack

BATCH = 10


def sync(config: Path, tmp_path: Path):
    return run_cli("sync", "content", "--config", config, report=tmp_path / "report.json")


def test_failed_operation_fails_its_batch_only_and_the_next_run_sends_it(
    stack: Stack, config_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("learnsync.load.content.UPSERT_LIMIT", BATCH)
    mapped = expected_catalog(stack)[0]
    assert len(mapped) > 3 * BATCH  # more batches than the 3 bulk slots
    stack.threesixty.fail_next_operations = 1  # the first batch's operation ends in error

    first = sync(config_path, tmp_path)
    assert first.exit_code == 1, first.stderr  # an operation failed as a whole: the rest is done
    assert f"{BATCH} courses were not written" in first.stderr
    assert first.report is not None
    failed = {f["externalId"] for f in first.report["failed"]}
    assert len(failed) == BATCH  # was: every course (all later batches marked failed)
    assert first.report["created"] == len(mapped) - BATCH
    assert set(courses_of(stack)) == set(mapped) - failed

    second = sync(config_path, tmp_path)
    assert second.exit_code == 0, second.stderr
    assert second.report is not None
    assert second.report["created"] == BATCH and second.report["failed"] == []
    assert set(courses_of(stack)) == set(mapped)
