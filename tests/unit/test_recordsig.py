"""Kafka records signed by their clinic system (shared/recordsig.py): the documented derivation and
MAC, and every way a record is refused, each with its reason."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from shared import recordsig
from shared.auth import KeyRing
from shared.digests import sha256_hex
from shared.recordsig import SignatureRefused
from shared.settings import ApiKey, Role

#: The example of examples/clinic_systems/README.md, for a clinic system that reimplements it.
KEY = "dgk_0123456789abcdef.exampleexampleexampleexampleexampleexample0"
TOPIC = "consent.inbound"
VALUE = b'{"specversion":"1.0"}'
STRUCTURED = [("content-type", b"application/cloudevents+json")]
EXPECTED = b"v1.key.0123456789abcdef.3jpjE012eHioAmM7lWyMnZ0ApFnxNM9pKx7kk_qdWqk"


def test_a_record_is_signed_as_documented() -> None:
    signing_key = hmac.new(KEY.encode(), b"dongui-kafka-signing-v1", hashlib.sha256).digest()
    signed_input = (TOPIC.encode() + b"\ncontent-type=" + base64.urlsafe_b64encode(STRUCTURED[0][1]).rstrip(b"=")
                    + b"\n\n" + VALUE)
    assert signed_input == b'consent.inbound\ncontent-type=YXBwbGljYXRpb24vY2xvdWRldmVudHMranNvbg\n\n{"specversion":"1.0"}'
    mac = hmac.new(signing_key, signed_input, hashlib.sha256).digest()
    header = b"v1.key.0123456789abcdef." + base64.urlsafe_b64encode(mac).rstrip(b"=")
    assert recordsig.sign_headers(TOPIC, VALUE, KEY, STRUCTURED) == [("dongui-signature", header)]
    assert header == EXPECTED
    assert recordsig.signing_key(KEY).hex() == "685b1e38c5918c984fca66c3c9e02981d00d69d367e325cfb75aab61c9089f26"
    assert recordsig.key_id("dev-system") == "dev-system"
    for not_a_system_key in ("dev-staff", "dgk_abc", "dgk_.secret", "key.abc"):
        with pytest.raises(ValueError):
            recordsig.key_id(not_a_system_key)


def _verify(headers, topic: str = TOPIC, value: bytes = VALUE, key: str = KEY) -> str:
    return recordsig.verify(topic, value, headers, lambda key_id: recordsig.signing_key(key))


def test_only_the_record_as_signed_for_its_topic_verifies() -> None:
    good = [*STRUCTURED, *recordsig.sign_headers(TOPIC, VALUE, KEY, STRUCTURED)]
    assert _verify(good) == "key.0123456789abcdef"
    malformed = "is not 'v1.<key_id>.<base64url of a 32-byte HMAC>'"
    refused = [  # (headers, value, topic, what the reason says)
        ([("content-type", b"application/cloudevents+json")], VALUE, TOPIC, "not signed (no dongui-signature header)"),
        (good + good[1:], VALUE, TOPIC, "2 dongui-signature headers"),
        ([("dongui-signature", b"v2" + EXPECTED[2:])], VALUE, TOPIC, malformed),
        ([("content-type", b"application/json"), *good[1:]], VALUE, TOPIC, "does not match the record"),
        ([*good, ("ce_type", b"consent.granted")], VALUE, TOPIC, "does not match the record"),
        ([*good, ("CE_Type", b"consent.granted")], VALUE, TOPIC, "does not match the record"),
        ([*good, ("ce_a=b", b"x")], VALUE, TOPIC, "has a '=' or a newline"),
        ([("dongui-signature", EXPECTED[:-1])], VALUE, TOPIC, malformed),
        ([("dongui-signature", b"\xff" + EXPECTED)], VALUE, TOPIC, malformed),
        (good, VALUE + b" ", TOPIC, "does not match the record"),
        (good, VALUE, "dsr.task-results", "signed for another topic"),
    ]
    for headers, value, topic, why in refused:
        with pytest.raises(SignatureRefused) as caught:
            _verify(headers, topic, value)
        assert why in caught.value.reason, (why, caught.value.reason)
    with pytest.raises(SignatureRefused, match="another key"):
        _verify(good, key="dgk_0123456789abcdef.another")
    # What the key lookup refuses comes through as it said it.
    with pytest.raises(SignatureRefused, match="revoked"):
        recordsig.verify(TOPIC, VALUE, good, lambda key_id: (_ for _ in ()).throw(SignatureRefused("revoked")))


def test_the_development_key_signs_as_the_website_in_development_only() -> None:
    headers = recordsig.sign_headers(TOPIC, VALUE, "dev-system")
    development = KeyRing([ApiKey(name="dev-system", role=Role.system, key_sha256=sha256_hex("dev-system"),
                                  system_id="website")])
    assert development.record_signer(TOPIC, VALUE, headers) == "website"
    with pytest.raises(SignatureRefused, match="only in development"):
        KeyRing([]).record_signer(TOPIC, VALUE, headers)
    with pytest.raises(SignatureRefused, match="not a key of any clinic system"):
        development.record_signer(TOPIC, VALUE, recordsig.sign_headers(TOPIC, VALUE, KEY))


def test_a_binary_record_whose_attributes_were_changed_is_refused() -> None:
    """Binary mode: the CloudEvents attributes are headers, under the MAC; a declined consent
    re-sent as granted under the system's signature is refused. Other headers may come and go."""
    headers = [("ce_specversion", b"1.0"), ("ce_id", b"e-1"), ("ce_source", b"clinic/emr"),
               ("ce_type", b"consent.declined"), ("content-type", b"application/json")]
    value = b'{"subject_id":"s-1"}'
    good = recordsig.signed(TOPIC, value, headers, KEY)
    assert _verify(good, value=value) == "key.0123456789abcdef"
    assert _verify([*reversed(good), ("traceparent", b"00-abc")], value=value) == "key.0123456789abcdef"
    granted = [(k, b"consent.granted" if k == "ce_type" else v) for k, v in good]
    for changed in (granted, [h for h in good if h[0] != "ce_id"], [*good, ("ce_time", b"2020-01-01T00:00:00Z")]):
        with pytest.raises(SignatureRefused, match="does not match"):
            _verify(changed, value=value)
