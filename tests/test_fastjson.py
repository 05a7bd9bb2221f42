"""The fast JSON helpers agree with the standard library, including where orjson refuses."""

from __future__ import annotations

import json

import pytest

from learnsync import fastjson

BIG = 2**70  # beyond orjson's 64-bit integers


@pytest.mark.parametrize(
    "value",
    [
        {"elements": [{"id": "Course~x", "name": "Élan", "n": 1.5}], "paging": {"next": "100"}},
        [],
        {"big": BIG},
        "ünïcode",
    ],
)
def test_round_trip_matches_the_standard_library(value: object) -> None:
    encoded = fastjson.dumps(value)
    assert isinstance(encoded, bytes)
    assert json.loads(encoded) == value
    assert fastjson.loads(encoded) == value
    assert fastjson.loads(json.dumps(value)) == value


def test_not_json_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        fastjson.loads(b"<html>")
