"""The fast JSON helpers agree with the standard library, including where orjson refuses; the
shape of a body is measured right before decoding."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

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


def test_deep_nesting_is_a_value_error_never_a_recursion_error() -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(ValueError):
        fastjson.loads(deep)
    with pytest.raises(ValueError):
        fastjson.loads(deep.decode(), replace_invalid_utf8=True)


def test_invalid_utf8_is_replaced_only_when_asked() -> None:
    data = b'{"a": "Caf\xe9", "b": "\xc3\xa9t\xc3\xa9", "c": [1]}'
    assert fastjson.loads(data, replace_invalid_utf8=True) == {
        "a": "Caf\ufffd",
        "b": "\xe9t\xe9",
        "c": [1],
    }
    with pytest.raises(ValueError):
        fastjson.loads(data)
    with pytest.raises(ValueError):  # still not JSON once replaced
        fastjson.loads(b'{"a": "\xff"', replace_invalid_utf8=True)


@pytest.mark.parametrize(
    ("data", "depth", "containers"),
    [
        (b"1", 0, 0),
        (b'"[{"', 0, 0),
        (b"[]", 1, 1),
        (b' {"a": [1, {"b": []}], "c": {}} ', 4, 5),
        (b'["]]]", "[[[", "{"]', 1, 1),
        (b'["\\"[", "\\\\", ["\\\\\\"]"]]', 2, 2),  # escaped quotes and backslashes
        (b'[" \\u005c", ["x"]]', 2, 2),
        (b"[" * 64 + b"]" * 64, 64, 64),
        (b"[" * 65 + b"]" * 65, 65, 65),
        (b"[" * 1000 + b"]" * 1000, 65, 1000),  # counted up to the limit + 1
        (b"[[]", None, 1),  # unbalanced: not JSON, the decoder says so
        (b"][", None, 1),
    ],
)
def test_shape_measures_nesting_and_containers(
    data: bytes, depth: int | None, containers: int
) -> None:
    assert fastjson.shape(data, 64) == (depth, containers)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ aé\n\x00'),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(alphabet='[]{}"\\ b'), inner, max_size=4)
    ),
    max_leaves=40,
)


def _depth(value: object) -> int:
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    return 0


def _containers(value: object) -> int:
    if isinstance(value, list):
        return 1 + sum(map(_containers, value))
    if isinstance(value, dict):
        return 1 + sum(map(_containers, value.values()))
    return 0


@given(JSON, st.booleans())
def test_shape_agrees_with_the_decoded_value(value: object, ascii_only: bool) -> None:
    """Brackets, quotes and backslashes inside strings never count, however escaped."""
    data = json.dumps(value, ensure_ascii=ascii_only).encode()
    assert fastjson.shape(data, 64) == (_depth(value), _containers(value))
    assert fastjson.shape(fastjson.dumps(value), 64) == (_depth(value), _containers(value))
