"""Webhook signatures: what a receiver checks (services/notifier/signing.py, meant to be copied)."""

from __future__ import annotations

import hashlib
import hmac

from services.notifier.signing import sign, verify_signature

SECRET = "s3cret-s3cret-s3cret"
BODY = '{"kind":"guardian_request","title":"법정대리인의 아동 삭제 요구 접수"}'.encode()
NOW = 1_767_225_600


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body_in_hex() -> None:
    expected = hmac.new(SECRET.encode(), f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, NOW, BODY) == f"v1={expected}"
    assert verify_signature(SECRET, str(NOW), BODY, f"v1={expected}", now=NOW)


def test_a_changed_body_timestamp_or_secret_is_refused() -> None:
    signature = sign(SECRET, NOW, BODY)
    assert not verify_signature(SECRET, str(NOW), BODY + b" ", signature, now=NOW)
    assert not verify_signature(SECRET, str(NOW + 1), BODY, signature, now=NOW)
    assert not verify_signature("another-secret-value", str(NOW), BODY, signature, now=NOW)


def test_an_old_or_future_timestamp_is_refused_as_a_replay() -> None:
    signature = sign(SECRET, NOW, BODY)
    assert verify_signature(SECRET, str(NOW), BODY, signature, tolerance=300, now=NOW + 299)
    assert not verify_signature(SECRET, str(NOW), BODY, signature, tolerance=300, now=NOW + 301)
    assert not verify_signature(SECRET, str(NOW), BODY, signature, tolerance=300, now=NOW - 301)


def test_during_a_rotation_any_listed_v1_signature_may_match() -> None:
    old, new = sign("old-secret-old-secret", NOW, BODY), sign(SECRET, NOW, BODY)
    assert verify_signature(SECRET, str(NOW), BODY, f"{old}, {new}", now=NOW)
    assert not verify_signature(SECRET, str(NOW), BODY, f"v0={new[3:]}", now=NOW)


def test_malformed_headers_are_refused_not_raised() -> None:
    for timestamp, signature in [(None, sign(SECRET, NOW, BODY)), (str(NOW), None), ("soon", "v1=00"),
                                 (str(NOW), "v1=한글"), (str(NOW), ""), ("-1", "v1=00")]:
        assert not verify_signature(SECRET, timestamp, BODY, signature, now=NOW)
