"""consent.inbound, consent.events and dsr.events on a real Kafka-protocol broker."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from tests.support import (
    STAFF,
    SYSTEM,
    binary,
    consent_event,
    consume,
    eventually,
    guardian,
    produce,
    structured,
)


async def history(consent, subject: str) -> list[dict]:
    response = await consent.client.get(f"/v1/subjects/{subject}/consents/history", headers=STAFF)
    return response.json()["records"]


async def test_structured_and_binary_events_are_both_recorded(consent, policy, kafka_bootstrap):
    subject = "kafka-modes"
    as_structured = consent_event(subject_id=subject, purpose="marketing_email")
    as_binary = consent_event(subject_id=subject, purpose="marketing_sms", time="2026-11-21T10:00:00+09:00")

    await produce(kafka_bootstrap, "consent.inbound", [structured(as_structured), binary(as_binary)])

    records = await eventually(lambda: _records_if(consent, subject, 2))
    assert {r["purpose"] for r in records} == {"marketing_email", "marketing_sms"}
    assert {r["received_via"] for r in records} == {"kafka"}


async def _records_if(consent, subject: str, count: int):
    records = await history(consent, subject)
    return records if len(records) >= count else None


async def test_an_event_seen_over_http_and_again_over_kafka_is_recorded_once(consent, policy, kafka_bootstrap):
    event = consent_event(subject_id="once-only")
    assert (await consent.client.post("/v1/consent-events", json=event, headers=SYSTEM)).status_code == 201
    marker = consent_event(subject_id="once-only", purpose="marketing_sms")

    await produce(kafka_bootstrap, "consent.inbound", [binary(event), structured(event), structured(marker)])

    await eventually(lambda: _records_if(consent, "once-only", 2))
    assert len(await history(consent, "once-only")) == 2


async def test_bad_messages_are_dead_lettered_with_a_reason_and_good_ones_still_recorded(
    consent, policy, kafka_bootstrap
):
    subject = "after-the-bad-ones"
    original = consent_event(subject_id=subject, purpose="marketing_sms")
    conflicting = json.loads(json.dumps(original))
    conflicting["data"]["method"] = "phone"
    child_alone = consent_event(subject_id="child-alone", birth_date="2016-01-01")
    # Keys pick partitions, so dead letters are matched to what was sent by key, not by order.
    bad = {
        b"not-json": (b"\xff\xfe not json", []),
        b"no-envelope": (json.dumps({"hello": "world"}).encode(), []),
        b"unknown-type": (json.dumps(consent_event(type="consent.maybe")).encode(), []),
        b"child-alone": structured(child_alone)[1:],
        b"a-list": (json.dumps(["a", "list"]).encode(), []),
        b"bad-binary": (b"{}", [("ce_id", b"x"), ("ce_type", b"consent.granted")]),
        # JSON may escape a lone surrogate, which no UTF-8 text (and no database) can hold.
        b"lone-surrogate": (json.dumps(consent_event()).replace('"signup-v3"', '"signup-v3\\ud800"', 1).encode(), []),
    }
    good = consent_event(subject_id=subject)

    await produce(kafka_bootstrap, "consent.inbound", [
        structured(original),
        *[(key, value, headers) for key, (value, headers) in bad.items()],
        structured(conflicting),  # same key as the original: same partition, after it
        structured(good),
    ])

    await eventually(lambda: _records_if(consent, subject, 2))
    dead = {m.key: m for m in await consume(kafka_bootstrap, "privacy.dead-letter", count=len(bad) + 1)}
    reason = {key: dict(m.headers)["dongui-dlq-reason"].decode() for key, m in dead.items()}
    assert "not JSON" in reason[b"not-json"]
    assert "id: Field required" in reason[b"no-envelope"] and "source: Field required" in reason[b"no-envelope"]
    assert "Unknown event type 'consent.maybe'" in reason[b"unknown-type"]
    assert "legal representative" in reason[b"child-alone"]
    assert "JSON object" in reason[b"a-list"]
    assert "binary-mode" in reason[b"bad-binary"] or "source" in reason[b"bad-binary"]
    assert "not valid Unicode" in reason[b"lone-surrogate"]
    assert "different content" in reason[subject.encode()]
    assert dead[b"not-json"].value == b"\xff\xfe not json"  # the original bytes, untouched
    headers = dict(dead[b"child-alone"].headers)
    assert headers["dongui-dlq-topic"] == b"consent.inbound"
    assert headers["dongui-dlq-consumer"] == b"consent/inbound"
    assert headers["content-type"] == b"application/cloudevents+json"
    assert len(await history(consent, "child-alone")) == 0


async def test_every_recorded_event_is_published_on_consent_events_keyed_by_subject(consent, policy, kafka_bootstrap):
    event = consent_event(subject_id="published-1", actor=guardian(), birth_date="2015-01-01")
    await consent.client.post("/v1/consent-events", json=event, headers=SYSTEM)

    messages = await consume(kafka_bootstrap, "consent.events", count=2)  # policy.published + the grant
    [grant] = [m for m in messages if m.key == b"published-1"]
    body = json.loads(grant.value)
    assert body["type"] == "consent.granted"
    assert body["subject"] == "published-1"
    assert body["data"]["sequence"] == 1
    assert body["data"]["actor_role"] == "legal_representative"
    assert "Nguyễn" not in grant.value.decode()  # no names on the topic
    assert "2015-01-01" not in grant.value.decode()


async def test_events_recorded_while_the_broker_is_down_are_delivered_after(consent, policy, kafka_broker):
    kafka_broker.stop()
    subjects = [f"outage-{i}" for i in range(5)]
    for subject in subjects:
        response = await consent.client.post("/v1/consent-events", json=consent_event(subject_id=subject), headers=SYSTEM)
        assert response.status_code == 201  # recording never waits for the broker
    health = await consent.client.get("/healthz")
    assert health.status_code == 503
    assert health.json()["checks"]["broker"] == "unreachable"

    kafka_broker.start()  # empty again: Tansu keeps nothing across restarts

    messages = await consume(kafka_broker.bootstrap, "consent.events", count=5, timeout=60)
    assert {m.key.decode() for m in messages} >= set(subjects)
    await eventually(lambda: _healthy(consent), timeout=30)


async def _healthy(consent) -> bool:
    return (await consent.client.get("/healthz")).status_code == 200


def hold_event(type: str, subject: str, hold_id: str, **extra) -> dict:
    now = datetime.now(UTC).isoformat()
    data = {"subject_id": subject, "hold_id": hold_id, "request_id": "req-1", **extra}
    if type == "subject.hold.placed":
        data.setdefault("reason", "rectification")
        data["placed_at"] = now
    else:
        data["released_at"] = now
    return {"specversion": "1.0", "id": str(uuid.uuid4()), "source": "dongui/dsr", "type": type,
            "subject": subject, "data": data}


async def test_a_hold_from_the_request_service_blocks_every_purpose_but_treatment(consent, policy, kafka_bootstrap):
    subject = "held-subject"
    await consent.client.post("/v1/consent-events", json=consent_event(subject_id=subject), headers=SYSTEM)
    placed = hold_event("subject.hold.placed", subject, "hold-1")

    await produce(kafka_bootstrap, "dsr.events", [(subject.encode(), json.dumps(placed).encode(), [])])

    async def reason(purpose: str) -> str:
        body = (await consent.client.get(f"/v1/subjects/{subject}/permissions/{purpose}", headers=SYSTEM)).json()
        return body["reason"]

    await eventually(lambda: _equals(reason("marketing_email"), "hold"))
    assert await reason("treatment") == "legal_basis"
    current = (await consent.client.get(f"/v1/subjects/{subject}/consents", headers=STAFF)).json()
    assert current["holds"][0]["hold_id"] == "hold-1"

    released = hold_event("subject.hold.released", subject, "hold-1")
    unrelated = {"specversion": "1.0", "id": str(uuid.uuid4()), "source": "dongui/dsr",
                 "type": "request.received", "subject": subject, "data": {"request_id": "req-2"}}
    await produce(kafka_bootstrap, "dsr.events", [
        (subject.encode(), json.dumps(unrelated).encode(), []),
        (subject.encode(), json.dumps(released).encode(), []),
        (subject.encode(), json.dumps(placed).encode(), []),  # a redelivered placement: already seen
    ])
    await eventually(lambda: _equals(reason("marketing_email"), "granted"))


async def _equals(awaitable, expected) -> bool:
    return (await awaitable) == expected
