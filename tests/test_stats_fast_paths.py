"""The speed-ups the statistics pipeline relies on keep their contracts.

- ``HttpSession.scrub`` skips walking a body that holds no secret, but still finds one that
  JSON escaping or nesting hides;
- ``CourseraClient.iter_enrollment_reports(row_factory=..., fetch_ahead=True)`` yields the same
  rows, in the same order, with the same page callbacks and the same errors, as the plain read.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from typing import Any

import pytest

from learnsync.clients.coursera import CourseraClient
from learnsync.config import Config, parse_config
from learnsync.errors import ApiError
from learnsync.extract.stats import LightRow, iter_enrollment_rows
from learnsync.http import HttpSession, RetryPolicy
from learnsync.model.coursera import EnrollmentRow
from learnsync.sandbox.faults import Fault
from learnsync.sandbox.stack import Stack, running_stack
from learnsync.sandbox.world import World

FAST = RetryPolicy(
    max_attempts=2, base_delay=0.01, max_delay=0.02, min_429_delay=0.01, max_retry_after=0.02
)


@pytest.mark.parametrize(
    ("secret", "body"),
    [
        ("s3cr3t-value", {"a": [{"b": "x s3cr3t-value y"}]}),
        ('quo"te\\back', {"k": ['before quo"te\\back after']}),  # escaped in JSON text
        ("ünïcode-sëcret", ["ünïcode-sëcret"]),
        ("tok-abcdef", {"tok-abcdef": 1}),  # in a key
        ("tok-abcdef", ({"x": "tok-abcdef"},)),  # a tuple
    ],
)
def test_scrub_finds_every_hidden_secret(secret: str, body: Any) -> None:
    session = HttpSession(api="Test")
    session.add_secret(secret)
    assert secret not in repr(session.scrub(body)).replace("\\\\", "\\")
    assert "[redacted]" in str(session.scrub(body))


def test_scrub_returns_a_secret_free_body_untouched() -> None:
    session = HttpSession(api="Test")
    session.add_secret("s3cr3t-value")
    body = [{"input": {"value": n}, "status": "success"} for n in range(1000)]
    assert session.scrub(body) is body
    assert session.scrub("no secret here") == "no secret here"


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with running_stack(World(catalog_size=60, learners=40, enrollments=230)) as running:
        yield running


@pytest.fixture
def config(stack: Stack) -> Config:
    stack.coursera.faults.clear()
    return parse_config(tomllib.loads(stack.config_toml()))


def _read(config: Config, **options: Any) -> tuple[list[Any], list[tuple[int, int | None]]]:
    pages: list[tuple[int, int | None]] = []
    with CourseraClient(config.coursera, retry=FAST) as client:
        rows = list(
            client.iter_enrollment_reports(
                page_size=50, on_page=lambda f, t: pages.append((f, t)), **options
            )
        )
    return rows, pages


@pytest.mark.parametrize("fetch_ahead", [False, True])
def test_row_factory_and_fetch_ahead_read_the_same_rows(config: Config, fetch_ahead: bool) -> None:
    models, pages = _read(config)
    raw, raw_pages = _read(config, row_factory=dict, fetch_ahead=fetch_ahead)
    assert len(models) == 230 and pages == raw_pages and len(pages) == 5
    assert [EnrollmentRow.model_validate(r) for r in raw] == models


def test_light_rows_through_the_extract_equal_the_models(config: Config) -> None:
    models, _ = _read(config)
    with CourseraClient(config.coursera, retry=FAST) as client:
        light = list(iter_enrollment_rows(client, page_size=40))
    assert all(type(r) is LightRow for r in light)
    for row, model in zip(light, models, strict=True):
        assert all(getattr(row, name) == getattr(model, name) for name in LightRow.__slots__)


def test_fetch_ahead_raises_the_page_error_after_the_rows_before_it(
    stack: Stack, config: Config
) -> None:
    stack.coursera.faults.add(
        Fault(path="/enrollmentReports", status=500, times=10, skip=2)
    )  # pages 1-2 fine, then a persistent 500
    seen: list[Any] = []
    with CourseraClient(config.coursera, retry=FAST) as client, pytest.raises(ApiError):
        for row in client.iter_enrollment_reports(page_size=50, row_factory=dict, fetch_ahead=True):
            seen.append(row)
    assert len(seen) == 100


def test_stopping_early_leaves_no_thread_behind(config: Config) -> None:
    import threading

    with CourseraClient(config.coursera, retry=FAST) as client:
        rows = client.iter_enrollment_reports(page_size=50, row_factory=dict, fetch_ahead=True)
        assert next(rows)
        rows.close()  # type: ignore[attr-defined]
    assert not [t for t in threading.enumerate() if t.name.startswith("learnsync-coursera-page")]
