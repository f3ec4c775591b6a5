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


# --- the depth a read from outside may have ----------------------------------------------------


def depth(value) -> int:
    """Levels of arrays and objects, counted on the value itself."""
    if isinstance(value, dict):
        return 1 + max(map(depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(depth, value), default=0)
    return 0


# Text with brackets, quotes and backslashes in it: structure inside a string is only text.
tricky_text = st.text(alphabet='[]{}"\\ab', max_size=12)
nested = st.recursive(st.none() | st.integers() | tricky_text,
                      lambda inner: st.lists(inner, max_size=3) | st.dictionaries(tricky_text, inner, max_size=3),
                      max_leaves=30)


@settings(max_examples=1000, deadline=None)
@given(nested, st.integers(min_value=0, max_value=8), st.sampled_from(["utf-8", "utf-16", "utf-32-le"]),
       st.booleans())
def test_too_deep_is_the_depth_of_the_value_beyond_the_limit(value, limit, encoding, ascii_only):
    text = json.dumps(value, ensure_ascii=ascii_only).encode(encoding)
    assert jsonbytes.too_deep(text, limit) == (depth(value) > limit)


@pytest.mark.parametrize("text", [b"[" * 100_000 + b"]" * 100_000, b"[" * 100_000, b'{"a":' * 5_000 + b"1" + b"}" * 5_000])
def test_a_value_nested_past_the_limit_is_refused_before_it_is_read(text):
    assert jsonbytes.too_deep(text)
    with pytest.raises(jsonbytes.TooDeep, match="nested deeper than 64 levels"):
        jsonbytes.loads(text)


def test_the_limit_itself_and_brackets_in_strings_are_read():
    assert jsonbytes.loads(b"[" * 64 + b"]" * 64) is not None
    assert jsonbytes.loads(json.dumps({"text": "[" * 1000, "escaped": '\\"[[[' * 100}).encode())["text"] == "[" * 1000
