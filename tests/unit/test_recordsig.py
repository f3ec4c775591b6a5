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
EXPECTED = b"v1.key.0123456789abcdef.MS5TKhiay04ddYox7-5WEqyX2hF5i_iDoNFNdgqBi2U"


def test_a_record_is_signed_as_documented() -> None:
    signing_key = hmac.new(KEY.encode(), b"dongui-kafka-signing-v1", hashlib.sha256).digest()
    mac = hmac.new(signing_key, TOPIC.encode() + b"\n" + VALUE, hashlib.sha256).digest()
    header = b"v1.key.0123456789abcdef." + base64.urlsafe_b64encode(mac).rstrip(b"=")
    assert recordsig.sign_headers(TOPIC, VALUE, KEY) == [("dongui-signature", header)]
    assert header == EXPECTED
    assert recordsig.signing_key(KEY).hex() == "685b1e38c5918c984fca66c3c9e02981d00d69d367e325cfb75aab61c9089f26"
    assert recordsig.key_id("dev-system") == "dev-system"
    for not_a_system_key in ("dev-staff", "dgk_abc", "dgk_.secret", "key.abc"):
        with pytest.raises(ValueError):
            recordsig.key_id(not_a_system_key)


def _verify(headers, topic: str = TOPIC, value: bytes = VALUE, key: str = KEY) -> str:
    return recordsig.verify(topic, value, headers, lambda key_id: recordsig.signing_key(key))


def test_only_the_record_as_signed_for_its_topic_verifies() -> None:
    good = [("content-type", b"application/cloudevents+json"), *recordsig.sign_headers(TOPIC, VALUE, KEY)]
    assert _verify(good) == "key.0123456789abcdef"
    malformed = "is not 'v1.<key_id>.<base64url of a 32-byte HMAC>'"
    refused = [  # (headers, value, topic, what the reason says)
        ([("content-type", b"application/cloudevents+json")], VALUE, TOPIC, "not signed (no dongui-signature header)"),
        (good + good[1:], VALUE, TOPIC, "2 dongui-signature headers"),
        ([("dongui-signature", b"v2" + EXPECTED[2:])], VALUE, TOPIC, malformed),
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
