"""A structured-mode Kafka message read straight into the model (pydantic's JSON reader) gives the
very event, or the very refusal, that reading it with the standard library first gives; except a
message nested deeper than 64 levels, which every reader refused its own way (the standard library
with a RecursionError that no except clause caught) and which is now refused, in either mode,
before any of them reads it."""

from __future__ import annotations

import json

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from shared.cloudevents import CloudEvent, InvalidEvent, from_kafka, parse_envelope

HEADERS = [("content-type", b"application/cloudevents+json")]


def the_old_way(value: bytes) -> CloudEvent | str:
    if not value:
        return "the message is empty"
    try:
        try:
            raw = json.loads(value)
        except (UnicodeDecodeError, ValueError) as exc:
            raise InvalidEvent(f"the message is not JSON: {exc}") from None
        return parse_envelope(raw)
    except InvalidEvent as exc:
        return exc.reason


def read(value: bytes) -> CloudEvent | str:
    try:
        return from_kafka(value, HEADERS, None)
    except InvalidEvent as exc:
        return exc.reason


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20)
attribute = st.sampled_from(["specversion", "id", "source", "type", "subject", "time", "datacontenttype",
                             "dataschema", "data", "traceparent", "Bad-Name", "x" * 21])
envelopes = st.fixed_dictionaries(
    {"specversion": st.sampled_from(["1.0", "0.3", 1]), "id": st.text(max_size=5) | st.integers(),
     "source": st.text(max_size=5), "type": st.sampled_from(["consent.granted", ""])},
    optional={"subject": st.text(max_size=5) | st.none(),
              "time": st.sampled_from(["2026-03-01T09:30:00+09:00", "2026-03-01T09:30:00", "yesterday"]),
              "datacontenttype": st.sampled_from(["application/json", "text/plain"]),
              "data": json_values})
messages = (envelopes.map(lambda e: json.dumps(e).encode())
            | st.dictionaries(attribute, json_values, max_size=6).map(lambda e: json.dumps(e).encode())
            | json_values.map(lambda v: json.dumps(v).encode())
            | st.binary(max_size=40))


@settings(max_examples=1500, deadline=None)
@given(messages)
@example(b'{"specversion":"1.0","id":"1","source":"s","type":"t","data":"\\ud800"}')  # a lone surrogate
@example('{"specversion":"1.0","id":"1","source":"s","type":"t"}'.encode("utf-16"))  # UTF-16
@example(b'{"specversion":"1.0","id":"1","source":"s","type":"t","data":[NaN, 1e400, 123456789012345678901234567890]}')
@example(b'[]')
@example(b'\xff')
def test_reading_a_structured_message_is_what_it_always_was(value):
    new, old = read(value), the_old_way(value)
    if isinstance(old, str):
        assert new == old
    else:  # repr: NaN equals NaN, and 1 is not 1.0
        assert isinstance(new, CloudEvent) and repr(new.model_dump()) == repr(old.model_dump())


def nested(levels: int, *, inside: str = "data") -> bytes:
    deep = "[" * levels + "]" * levels
    if inside == "top":
        return deep.encode()
    return (f'{{"specversion":"1.0","id":"1","source":"s","type":"t","{inside}":{deep}}}').encode()


@pytest.mark.parametrize("levels", [65, 300, 1_000, 100_000])
@pytest.mark.parametrize("inside", ["top", "data", "traceparent"])
def test_a_message_nested_too_deep_is_refused_at_once_naming_the_depth(levels, inside):
    assert read(nested(levels, inside=inside)) == "the message is nested deeper than 64 levels of arrays and objects"


def test_a_binary_message_nested_too_deep_is_refused_the_same_way():
    headers = [("ce_specversion", b"1.0"), ("ce_id", b"1"), ("ce_source", b"s"), ("ce_type", b"t"),
               ("content-type", b"application/json")]
    with pytest.raises(InvalidEvent, match="nested deeper than 64 levels"):
        from_kafka(b"[" * 100_000 + b"]" * 100_000, headers, None)
    assert from_kafka(b"[" * 64 + b"]" * 64, headers, None).data is not None


@pytest.mark.parametrize("value", [
    nested(63),  # 64 levels with the envelope
    ('{"specversion":"1.0","id":"1","source":"s","type":"t","data":"' + "[" * 10_000 + '"}').encode(),  # text
])
def test_up_to_the_limit_a_message_reads_as_it_always_did(value):
    new, old = read(value), the_old_way(value)
    assert isinstance(new, CloudEvent) and repr(new.model_dump()) == repr(old.model_dump())
