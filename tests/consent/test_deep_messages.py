"""A message nested too deep on consent.inbound is refused at its first read: dead-lettered with the
reason while the rest of its batch is recorded in the batch's own transaction (no replay one
message at a time, no traceback)."""

from __future__ import annotations

import json
import logging

import httpx
from asgi_lifespan import LifespanManager

from services.consent.app import build_app
from tests.consent.conftest import consent_settings
from tests.support import MANAGER, STAFF, consent_event, consume, eventually, policy_body, produce, structured

DEEP = "[" * 100_000 + "]" * 100_000


async def test_a_deeply_nested_message_is_dead_lettered_and_the_rest_of_its_batch_recorded(
    database_url, kafka_bootstrap, caplog
):
    caplog.set_level(logging.INFO)
    # The policy first, with no consumer running: everything sent below is then waiting on one
    # partition (one key) when the consumer starts, and comes in its first fetch, one batch.
    quiet = build_app(consent_settings(database_url, kafka_bootstrap, run_workers=False))
    async with LifespanManager(quiet, startup_timeout=60, shutdown_timeout=30) as manager:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://c") as client:
            assert (await client.post("/v1/policies", json=policy_body(), headers=MANAGER)).status_code == 201

    subject = "deep-batch"
    good = [consent_event(subject_id=subject, purpose=p) for p in ("marketing_email", "marketing_sms", "cookies_analytics")]
    in_data = consent_event(subject_id=subject, purpose="model_photos")
    in_data["data"]["evidence"] = "DEEP"
    key = subject.encode()
    headers = [("content-type", b"application/cloudevents+json")]
    await produce(kafka_bootstrap, "consent.inbound", [
        structured(good[0]),
        (key, json.dumps(in_data).replace('"DEEP"', DEEP).encode(), headers),  # 100,000 levels in its data
        structured(good[1]),
        (key, b"[" * 100_000, headers),  # and nothing but 100,000 opening brackets
        structured(good[2]),
    ])

    app = build_app(consent_settings(database_url, kafka_bootstrap))
    async with LifespanManager(app, startup_timeout=60, shutdown_timeout=30) as manager:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://c") as client:

            async def recorded() -> list[dict] | None:
                response = await client.get(f"/v1/subjects/{subject}/consents/history", headers=STAFF)
                records = response.json()["records"]
                return records if len(records) >= 3 else None

            records = await eventually(recorded)
            dead = await consume(kafka_bootstrap, "privacy.dead-letter", count=2)

    assert {r["purpose"] for r in records} == {"marketing_email", "marketing_sms", "cookies_analytics"}
    reasons = [dict(m.headers)["dongui-dlq-reason"].decode() for m in dead]
    assert reasons == ["the message is nested deeper than 64 levels of arrays and objects"] * 2
    assert sorted(len(m.value) for m in dead) == [100_000, len(json.dumps(in_data)) - 6 + len(DEEP)]  # the bytes sent
    messages = [r.getMessage() for r in caplog.records]
    assert not [m for m in messages if "replaying one message at a time" in m or "cannot be processed" in m]
    assert not [r for r in caplog.records if r.exc_info or "RecursionError" in r.getMessage()]
    assert len([m for m in messages if m.startswith("dead-lettering consent.inbound/")]) == 2
