"""The simulator's bulk operation DTO at every moment of its timeline, against the vendor's spec.

A poll can land after an operation's running phase is over but before the worker has applied it:
the operation is then still ``running`` (the spec knows no other status), never half-finished.
"""

from __future__ import annotations

import pytest
from openapi_core.testing import MockRequest, MockResponse

from learnsync import fastjson
from learnsync.sandbox.threesixty.bulk import Operation
from openapi_contract import spec_api

OP_ID = "69cb5fb10000000000000002"


@pytest.mark.parametrize("now", [0.0, 1.5, 2.5, 3.0, 3.5, 100.0])
def test_unapplied_operation_is_described_by_the_spec(now: float) -> None:
    op = Operation(OP_ID, "importExternalCourses", "i1", [{}, {}, {}], created=0.0, phase=1.0)
    body = op.describe(now)
    assert body["status"] in ("pending", "queued", "running")
    request = MockRequest(
        "https://app.360learning.com",
        "get",
        f"/api/v2/bulk/operations/{OP_ID}",
        headers={"Authorization": "Bearer t", "360-api-version": "v2.0"},
    )
    response = MockResponse(fastjson.dumps(body), content_type="application/json")
    spec_api("bulk").validate_response(request, response)
