"""shared.jsonbytes writes, byte for byte, what the standard library writes: digests and the ledger's
hash chain taken before it came stay the same."""

from __future__ import annotations

import enum
import json
import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared import jsonbytes


def stdlib_canonical(value) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def stdlib_compact(value) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def outcome(write, value):
    """The bytes written, or the type of error raised (the standard library's TypeError, ValueError
    or UnicodeEncodeError: the fast path must raise the same where it refuses)."""
    try:
        return write(value)
    except (TypeError, ValueError) as exc:
        return type(exc)


# Every kind of JSON value, with integers past 64 bits, floats of every form (1e-07, NaN,
# infinities, -0.0) and any text, lone surrogates included.
leaves = (st.none() | st.booleans() | st.integers() | st.integers(min_value=-(2**70), max_value=2**70)
          | st.floats(allow_nan=True, allow_infinity=True) | st.text())
values = st.recursive(leaves, lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
                      max_leaves=40)


@settings(max_examples=1000, deadline=None)
@given(values)
def test_canonical_is_the_standard_librarys_sorted_compact_json(value):
    assert outcome(jsonbytes.canonical, value) == outcome(stdlib_canonical, value)


@settings(max_examples=1000, deadline=None)
@given(values)
def test_compact_is_the_standard_librarys_compact_json(value):
    assert outcome(jsonbytes.compact, value) == outcome(stdlib_compact, value)


class Colour(enum.Enum):
    RED = "red"


class Level(str, enum.Enum):  # noqa: UP042  (the str mix-in, as older code writes it)
    HIGH = "high"


@pytest.mark.parametrize("value", [
    {"at": datetime(2026, 1, 1, tzinfo=UTC)},  # orjson would write these; the standard library refuses
    {"id": uuid.UUID(int=1)},
    [Colour.RED],
    {1: "integer key"},  # the standard library writes "1"
    {"level": Level.HIGH},  # a str subclass: the standard library writes its value
    ("a", "tuple"),
    {"small": 1.5e-07, "nan": float("nan")},
])
def test_values_beyond_plain_json_go_the_standard_librarys_way(value):
    assert outcome(jsonbytes.canonical, value) == outcome(stdlib_canonical, value)
    assert outcome(jsonbytes.compact, value) == outcome(stdlib_compact, value)


def test_plain_values_take_the_fast_path():
    event = {"id": "e-1", "data": {"subject_id": "환자-1", "n": 2**63, "ok": True, "none": None, "list": [1, "x"]}}
    assert jsonbytes._orjson(event, 0) == stdlib_compact(event)
    assert jsonbytes._orjson({"f": 0.5}, 0) is None
