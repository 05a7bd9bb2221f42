"""The vendor's three OpenAPI files in ``tests/openapi/``: valid documents, and what learnsync
relies on from the one no contract test reads (the webhook API's bulk-operation events)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any, get_args

import pytest
from openapi_spec_validator import validate

from learnsync.clients.threesixty.bulk import ENDED_STATUSES
from learnsync.sandbox.threesixty.bulk import TERMINAL, OperationType

SPEC_DIR = Path(__file__).parent / "openapi"
FILES = ["360learning-bulk-api.json", "360learning-core-api.json", "360learning-webhook-api.json"]


@cache
def _spec(name: str) -> dict[str, Any]:
    return json.loads((SPEC_DIR / name).read_text(encoding="utf-8"))


def test_the_readme_lists_every_file() -> None:
    readme = (SPEC_DIR / "README.md").read_text(encoding="utf-8")
    assert sorted(p.name for p in SPEC_DIR.glob("*.json")) == FILES
    for name in FILES:
        assert f"`{name}`" in readme


@pytest.mark.parametrize("name", FILES)
def test_each_file_is_a_valid_openapi_document(name: str) -> None:
    spec = _spec(name)
    assert spec["openapi"].startswith("3.1")
    validate(spec)  # raises on an invalid document


def _bulk_ended() -> dict[str, Any]:
    schemas = _spec("360learning-webhook-api.json")["components"]["schemas"]
    return schemas["BulkOperationEndedDTO"]["properties"]


def test_the_client_waits_for_exactly_the_statuses_an_ended_operation_can_have() -> None:
    assert sorted(ENDED_STATUSES) == sorted(_bulk_ended()["status"]["enum"])
    assert sorted(TERMINAL) == sorted(ENDED_STATUSES)  # the simulator ends operations alike


def test_the_simulated_operation_types_are_360learnings_own() -> None:
    assert set(get_args(OperationType)) <= set(_bulk_ended()["type"]["enum"])
