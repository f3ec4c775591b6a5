"""Records signed by the services (shared/servicesig.py): the HMAC only the services can make, and
the request service's Ed25519 signature of each task, which clinic systems check."""

from __future__ import annotations

import os

import pytest

from shared import recordsig, servicesig
from shared.recordsig import SignatureRefused
from shared.servicesig import ServiceRecords, TaskVerifier

SECRET = b"s" * 32
HEADERS = [("content-type", b"application/cloudevents+json")]


def test_only_a_record_the_services_signed_as_it_is_verifies() -> None:
    services = ServiceRecords(SECRET)
    value = b'{"type":"subject.hold.placed"}'
    good = services.signed("dsr.events", value, HEADERS)
    services.verify("dsr.events", value, good)
    assert ServiceRecords(SECRET).key_id == services.key_id  # every replica alike
    refused = [  # (topic, value, headers, what the reason says)
        ("dsr.events", value, HEADERS, "not signed by the services"),
        ("dsr.events", value, recordsig.signed("dsr.events", value, HEADERS, "dgk_0123.secret"),
         "not signed by the services"),
        ("dsr.events", value + b" ", good, "does not match"),
        ("consent.events", value, good, "does not match"),
        ("dsr.events", value, [*good, ("ce_type", b"subject.erasure.approved")], "does not match"),
        ("dsr.events", value, ServiceRecords(os.urandom(32)).signed("dsr.events", value, HEADERS),
         "another DONGUI_DELEGATION_SECRET"),
    ]
    for topic, val, headers, why in refused:
        with pytest.raises(SignatureRefused) as caught:
            services.verify(topic, val, headers)
        assert why in caught.value.reason, (why, caught.value.reason)


def test_a_dead_letter_signed_again_keeps_one_signature_and_its_reason_is_covered() -> None:
    services = ServiceRecords(SECRET)
    headers = [*HEADERS, ("dongui-dlq-reason", b"bad data")]
    once = services.signed("privacy.dead-letter", b"x", services.signed("dsr.events", b"x", headers))
    assert [k for k, _ in once].count(servicesig.HEADER) == 1
    services.verify("privacy.dead-letter", b"x", once)
    changed = [(k, b"something else" if k == "dongui-dlq-reason" else v) for k, v in once]
    with pytest.raises(SignatureRefused, match="does not match"):
        services.verify("privacy.dead-letter", b"x", changed)


def test_a_task_verifies_only_as_the_request_service_signed_it() -> None:
    services = ServiceRecords(SECRET)
    value = b'{"type":"dsr.task.erase"}'
    signed = services.signed("dsr.tasks", value, HEADERS)
    assert ServiceRecords(SECRET).task_public_key == services.task_public_key  # derived, not random
    clinic = TaskVerifier(services.task_public_key)  # what a clinic system holds
    clinic.verify(value, signed)
    with pytest.raises(SignatureRefused, match="not signed by the services"):
        clinic.verify(value, HEADERS)
    with pytest.raises(SignatureRefused, match="does not match"):
        clinic.verify(b'{"type":"dsr.task.export"}', signed)
    with pytest.raises(SignatureRefused, match="not the request service's"):
        clinic.verify(value, ServiceRecords(os.urandom(32)).signed("dsr.tasks", value, HEADERS))
    # Other topics carry no task signature.
    assert not any(k == servicesig.TASK_HEADER for k, _ in services.signed("dsr.events", value, HEADERS))
