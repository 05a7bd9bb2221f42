"""One rule for a failed batch, in both loaders (docs/waiting.md#when-a-batch-fails).

The content loader (``load/content.py``) and the statistics loader (``load/stats.py``) are driven
through their typed seams (``ThreeSixtyTarget``) with fake clients: the real ``ThreeSixtyClient``
over a scripted ``httpx.MockTransport`` 360Learning, and a minimal fake target that cannot resume.

- a batch whose bulk operation ends in ``error`` fails alone; the batches in flight behind it and
  the next ones are sent (once) and succeed;
- when 360Learning refuses to go on, the batches never sent are not reported as failed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

import httpx
import pytest

from learnsync.clients.threesixty import ThreeSixtyClient
from learnsync.config import ThreeSixtySettings
from learnsync.errors import ApiError
from learnsync.http import RetryPolicy
from learnsync.load import bulk as load_bulk
from learnsync.load.bulk import Outcome
from learnsync.load.content import archive_courses, upsert_courses
from learnsync.load.stats import Batch, import_stats
from learnsync.model.bulk import BatchFailed, BulkResult
from learnsync.model.ports import BatchResults, BulkKind
from learnsync.sync.ledger import ContentLedger
from learnsync.sync.report import ContentReport

BASE = "https://app.test"
DISABLED = {"error": {"code": "bulkAPIDisabled", "message": "maintenance"}}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class Bulk360:
    """Bulk submits → operations (3 slots) → results; ``fail`` holds submit indexes whose
    operation ends in ``error``; from submit ``disable_from`` on the bulk API answers 503."""

    def __init__(self, fail: set[int] = frozenset(), disable_from: int | None = None) -> None:  # type: ignore[assignment]
        self.fail = set(fail)
        self.disable_from = disable_from
        self.submits = 0
        self.ops: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/api/v2/oauth2/token":
            body = {"access_token": "tok", "token_type": "Bearer", "expires_in": 36000}
            return httpx.Response(200, json=body)
        if path.startswith("/api/v2/bulk/integrations/"):
            index = self.submits
            self.submits += 1
            if self.disable_from is not None and index >= self.disable_from:
                return httpx.Response(503, json=DISABLED)
            if sum(1 for op in self.ops if op["polls"] < 2) >= 3:
                busy = {"code": "bulkOperationsConcurrencyLimitReached", "message": "3 max"}
                return httpx.Response(429, json={"error": busy})
            items = json.loads(request.content)["input"]
            self.ops.append({"polls": 0, "input": items, "fail": index in self.fail})
            op_id = f"{len(self.ops):024x}"
            return httpx.Response(202, headers={"Location": f"/api/v2/bulk/operations/{op_id}"})
        m = re.fullmatch(r"/api/v2/bulk/operations/(\w+)(/results)?", path)
        assert m, path
        op = self.ops[int(m.group(1), 16) - 1]
        if m.group(2):
            return httpx.Response(
                200,
                json=[
                    {"input": item, "status": "success", "resourceId": f"r-{i}"}
                    for i, item in enumerate(op["input"])
                ],
            )
        op["polls"] += 1
        if op["polls"] < 2:
            return httpx.Response(200, json={"_id": m.group(1), "status": "running"})
        if op["fail"]:
            body = {"_id": m.group(1), "status": "error", "errorMessage": "the import crashed"}
            return httpx.Response(200, json=body)
        return httpx.Response(200, json={"_id": m.group(1), "status": "completed"})


def client(server: Bulk360) -> ThreeSixtyClient:
    clock = FakeClock()
    settings = ThreeSixtySettings(
        client_id="c", client_secret="secret-1234", group_id="a" * 24, author_id="b" * 24,
        base_url=BASE,
    )  # fmt: skip
    return ThreeSixtyClient(
        settings,
        transport=httpx.MockTransport(server),
        retry=RetryPolicy(random=lambda: 0.0),
        sleep=clock.sleep,
        clock=clock.time,
        reads_per_second=1e9,
        writes_per_second=1e9,
    )


class NoResumeTarget:
    """A minimal ``ThreeSixtyTarget``: batch ``fail`` (by submission order) ends in error; its
    ``BatchFailed`` carries the batches in flight but no ``resume``."""

    def __init__(self, fail: int) -> None:
        self.fail = fail
        self.sent: list[list[dict[str, Any]]] = []

    def run_batches(
        self, kind: BulkKind, integration_id: str, batches: Iterable[list[dict[str, Any]]]
    ) -> Iterator[BatchResults]:
        for batch in batches:
            self.sent.append(batch)
            if len(self.sent) - 1 == self.fail:
                raise BatchFailed(
                    "the operation ended in error",
                    batch=batch,
                    in_flight=[],
                    operation={"status": "error"},
                    operation_url="",
                )
            yield batch, [BulkResult(item, True, resource_id="r") for item in batch]


def courses(n: int) -> list[dict[str, Any]]:
    return [{"externalId": f"Course~{i}"} for i in range(n)]


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> int:
    """Batches of 2 items instead of 10,000 / 1,000 (the limits are module constants)."""
    monkeypatch.setattr("learnsync.load.content.UPSERT_LIMIT", 2)
    monkeypatch.setattr("learnsync.load.content.ARCHIVE_LIMIT", 2)
    return 2


class Upserts:
    """``upsert_courses`` takes ``Upsert`` plans; it only reads ``u.course.payload``."""

    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.items = items

    def __iter__(self) -> Iterator[Any]:
        for item in self.items:
            yield type("U", (), {"course": type("C", (), {"payload": item})()})()


# -- an operation that ends in error fails its own batch only ---------------------------------


def test_content_upsert_failed_operation_fails_its_batch_only(small_batches: int) -> None:
    server = Bulk360(fail={1})
    items = courses(10)  # 5 batches of 2; the second one's operation ends in error
    outcomes = upsert_courses(client(server), "i" * 24, Upserts(items))  # type: ignore[arg-type]
    failed = sorted(k for k, o in outcomes.items() if not o.ok)
    assert failed == ["Course~2", "Course~3"]
    assert all(outcomes[f"Course~{i}"].ok for i in (0, 1, 4, 5, 6, 7, 8, 9))
    assert "the import crashed" in (outcomes["Course~2"].error or "")
    # failed as a whole (the run exits 1 at its end), not rejected alone
    assert outcomes["Course~2"].operation_failed and not outcomes["Course~0"].operation_failed
    assert server.submits == 5  # the batches in flight behind it were awaited, not re-sent


def test_content_archive_failed_operation_fails_its_batch_only(small_batches: int) -> None:
    server = Bulk360(fail={0})
    ids = [f"Course~{i}" for i in range(6)]
    outcomes = archive_courses(client(server), "i" * 24, ids)
    assert [k for k in ids if not outcomes[k].ok] == ["Course~0", "Course~1"]
    assert [k for k in ids if outcomes[k].operation_failed] == ["Course~0", "Course~1"]
    assert server.submits == 3


def test_stats_failed_operation_fails_its_batch_only() -> None:
    server = Bulk360(fail={1})
    batches = [Batch([{"n": b * 10 + i} for i in range(3)], meta=b) for b in range(5)]
    seen: list[tuple[int, list[bool]]] = []
    whole: list[int] = []

    def record(b: Batch[int], out: list[Outcome]) -> None:
        seen.append((b.meta, [o.ok for o in out]))
        whole.extend(b.meta for o in out if o.operation_failed)

    result = import_stats(client(server), "i", batches, record)
    assert result.error is None
    assert whole == [1, 1, 1]
    assert seen == [
        (0, [True] * 3),
        (1, [False] * 3),
        (2, [True] * 3),  # in flight behind the failed one: awaited, succeeded (was: failed)
        (3, [True] * 3),
        (4, [True] * 3),
    ]
    assert server.submits == 5


@pytest.mark.parametrize("loader", ["content", "stats"])
def test_a_client_without_resume_still_fails_only_the_failed_batch(
    loader: str, small_batches: int
) -> None:
    target = NoResumeTarget(fail=1)
    if loader == "content":
        outcomes = upsert_courses(target, "i", Upserts(courses(6)))  # type: ignore[arg-type]
        assert [k for k, o in outcomes.items() if not o.ok] == ["Course~2", "Course~3"]
        assert len(outcomes) == 6 and sum(o.ok for o in outcomes.values()) == 4
    else:
        batches = [Batch([{"n": b}], meta=b) for b in range(4)]
        seen: list[tuple[int, bool]] = []
        import_stats(target, "i", batches, lambda b, out: seen.append((b.meta, out[0].ok)))
        assert seen == [(0, True), (1, False), (2, True), (3, True)]


# -- batches never sent are not reported as failed -------------------------------------------


def test_content_stops_when_the_bulk_api_refuses_and_unsent_courses_are_not_failed(
    small_batches: int,
) -> None:
    server = Bulk360(disable_from=2)  # batches 0 and 1 accepted, then 503 bulkAPIDisabled
    into: dict[str, Outcome] = {}
    with pytest.raises(ApiError) as info:
        upsert_courses(client(server), "i" * 24, Upserts(courses(10)), into=into)
    assert sorted(into) == ["Course~0", "Course~1", "Course~2", "Course~3"]
    assert all(o.ok for o in into.values())  # nothing was reported failed
    err = info.value
    assert err.status == 503 and err.code == "bulkAPIDisabled"
    assert "6 courses were not sent (the next run sends them)" in err.message
    assert "\n" not in err.message


def test_stats_stop_when_the_bulk_api_refuses_and_unsent_batches_are_not_failed() -> None:
    server = Bulk360(disable_from=2)
    batches = [Batch([{"n": b}], meta=b) for b in range(5)]
    seen: list[tuple[int, bool]] = []
    result = import_stats(
        client(server), "i", batches, lambda b, out: seen.append((b.meta, out[0].ok))
    )
    assert seen == [(0, True), (1, True)]  # batches 2-4 were never sent: no outcome at all
    assert result.error is not None and "temporarily disabled" in result.error


def test_a_plain_api_error_fails_only_the_batches_handed_to_the_client(
    small_batches: int,
) -> None:
    """A target that raises a bare ApiError: what it took may have been sent (failed), what it
    never took was not (no outcome)."""

    class Broken(NoResumeTarget):
        def run_batches(
            self, kind: BulkKind, integration_id: str, batches: Iterable[list[dict[str, Any]]]
        ) -> Iterator[BatchResults]:
            for batch in batches:
                self.sent.append(batch)
                if len(self.sent) == 2:
                    raise ApiError("network gone", status=0)
                yield batch, [BulkResult(item, True) for item in batch]

    into: dict[str, Outcome] = {}
    with pytest.raises(ApiError, match="4 courses were not sent"):
        upsert_courses(Broken(0), "i", Upserts(courses(8)), into=into)
    assert {k: o.ok for k, o in into.items()} == {
        "Course~0": True,
        "Course~1": True,
        "Course~2": False,
        "Course~3": False,
    }


def test_unsent_archives_are_not_recorded_as_failed() -> None:
    """The content ledger records only archives with an outcome (sync/ledger.py)."""
    ledger = ContentLedger.__new__(ContentLedger)
    ledger.report = ContentReport()
    ledger.audit = []
    recorded: list[str] = []
    ledger.succeeded = lambda external_id, *a, **k: recorded.append(external_id)  # type: ignore[method-assign]
    ledger.failed = lambda external_id, *a, **k: recorded.append(f"failed {external_id}")  # type: ignore[method-assign]
    outcomes = {"A": Outcome("A", True), "B": Outcome("B", False, error="x")}
    ledger.apply_archives({"A": "archived", "B": "archived", "C": "archived"}, outcomes)
    assert recorded == ["A", "failed B"]  # C was never sent


def test_the_shared_rule_is_the_one_both_loaders_use() -> None:
    import learnsync.load.content as content
    import learnsync.load.stats as stats

    assert content.run_bulk is load_bulk.run_bulk
    assert stats.BulkStream is load_bulk.BulkStream
