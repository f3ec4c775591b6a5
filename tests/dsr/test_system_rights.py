"""Least privilege for clinic systems (issue 18): each system publishes only as its own source, checks
only its registered purposes, reads no consent history or birth dates unless granted, and answers
only its own tasks, over HTTP and over Kafka, where each record must be signed by a live key of the
system it speaks for (shared/recordsig.py)."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta

from shared import recordsig
from tests.dsr.factories import approved_request, register_system, system_key
from tests.support import (
    DEV_SYSTEM_KEY,
    MANAGER,
    STAFF,
    SYSTEM,
    api_key,
    consent_event,
    eventually,
    produce,
    random_id,
    read_to_end,
    signed,
)

CRM = {"system_id": "crm", "name": "Marketing list", "data_categories": ["email"], "retention_classes": ["marketing"],
       "processor": True, "source": "agency/crm", "purposes": ["marketing_email"]}


async def _dead_letter_reason(stack, key: bytes) -> str:
    async def found() -> str | None:
        for message in await read_to_end(stack.bootstrap, "privacy.dead-letter"):
            if message.key == key:
                return dict(message.headers)["dongui-dlq-reason"].decode()
        return None

    return await eventually(found)


async def _known_to_consent(stack, headers: dict[str, str]) -> bool:
    return (await stack.consent.get("/v1/purposes", headers=headers)).status_code == 200


async def _crm(stack, **grants) -> dict[str, str]:
    assert (await stack.dsr.post("/v1/systems", json={**CRM, **grants}, headers=MANAGER)).status_code in (200, 201)
    key = await system_key(stack, "crm")
    await eventually(lambda: _known_to_consent(stack, key))
    return key


async def test_a_processor_checks_only_its_purposes_and_reads_no_history_unless_granted(stack):
    crm = await _crm(stack)
    subject = random_id("patient")
    event = consent_event(subject_id=subject, purpose="marketing_email")
    assert (await stack.consent.post("/v1/consent-events", json=event, headers=SYSTEM)).status_code == 201

    base = f"/v1/subjects/{subject}"
    assert (await stack.consent.get(f"{base}/permissions/marketing_email", headers=crm)).json()["allowed"] is True
    refused = await stack.consent.get(f"{base}/permissions/treatment", headers=crm)
    assert refused.status_code == 403 and refused.json()["errors"][0]["field"] == "purpose"
    assert (await stack.consent.get(f"{base}/consents/history", headers=crm)).status_code == 403
    record_id = (await stack.consent.get(f"{base}/consents/history", headers=STAFF)).json()["records"][0]["record_id"]
    assert (await stack.consent.get(f"/v1/consent-records/{record_id}/receipt", headers=crm)).status_code == 403
    # The decisions in force, without the birth date, the representative or the evidence.
    [state] = (await stack.consent.get(f"{base}/consents", headers=crm)).json()["purposes"]
    assert state["allowed"] and state["record"]["subject_birth_date"] is None and state["record"]["evidence"] is None
    [staff_state] = (await stack.consent.get(f"{base}/consents", headers=STAFF)).json()["purposes"]
    assert staff_state["record"]["subject_birth_date"] == "1990-04-01"

    # The privacy manager grants the right explicitly: then the history opens.
    await stack.dsr.post("/v1/systems", json={**CRM, "rights": ["consent_history"]}, headers=MANAGER)

    async def history_opens() -> bool:
        return (await stack.consent.get(f"{base}/consents/history", headers=crm)).status_code == 200

    await eventually(history_opens)
    assert (await stack.consent.get(f"/v1/consent-records/{record_id}/receipt", headers=crm)).status_code == 200


async def test_a_system_publishes_consent_only_as_its_own_source(stack):
    crm = await _crm(stack)
    as_website = consent_event(purpose="marketing_email")  # source clinic/website
    refused = await stack.consent.post("/v1/consent-events", json=as_website, headers=crm)
    assert refused.status_code == 403 and refused.json()["errors"][0]["field"] == "source"
    own = {**consent_event(purpose="marketing_email"), "source": "agency/crm"}
    assert (await stack.consent.post("/v1/consent-events", json=own, headers=crm)).status_code == 201

    # On Kafka, each record is signed by its system's key (shared/recordsig.py), and believed only
    # for that system's own source: the crm cannot publish as the website, even signing it itself;
    # nor the website (the development key) as the crm; and an unknown source is nobody's.
    as_website = consent_event(purpose="marketing_email")
    as_crm = {**consent_event(purpose="marketing_email"), "source": "agency/crm"}
    stranger = {**consent_event(), "source": "somewhere/else"}
    await produce(stack.bootstrap, "consent.inbound", [(b"as-website", json.dumps(as_website).encode(), []),
                                                       (b"stranger", json.dumps(stranger).encode(), [])],
                  signed_by=api_key(crm))
    await produce(stack.bootstrap, "consent.inbound", [(b"as-crm", json.dumps(as_crm).encode(), [])],
                  signed_by=DEV_SYSTEM_KEY)
    reason = await _dead_letter_reason(stack, b"as-website")
    assert reason.startswith("403") and "signed by the system 'crm'" in reason and "'website'" in reason, reason
    reason = await _dead_letter_reason(stack, b"as-crm")
    assert reason.startswith("403") and "signed by the system 'website'" in reason and "'crm'" in reason, reason
    reason = await _dead_letter_reason(stack, b"stranger")
    assert "somewhere/else" in reason and "not that of an active clinic system" in reason
    for event in (as_website, as_crm):
        assert not await _recorded(stack, event)


async def _recorded(stack, event: dict) -> list[str]:
    """The event ids recorded for the event's subject."""
    response = await stack.consent.get(f"/v1/subjects/{event['subject']}/consents/history", headers=STAFF)
    return [r["event_id"] for r in response.json()["records"]] if response.status_code == 200 else []


async def test_a_consent_event_on_kafka_is_recorded_only_signed_by_a_live_key_of_its_system(stack):
    crm = await _crm(stack)
    revoked = await _crm_key(stack)
    soon = datetime.now(UTC) + timedelta(seconds=1)
    expired = await _crm_key(stack, expires_at=soon.isoformat())
    old = await _crm_key(stack)
    async with stack.pool.acquire() as conn:  # as a key issued before records were signed is copied
        await conn.execute("UPDATE consent.system_keys SET wrapped_signing_key = NULL WHERE key_id = $1", old["key_id"])
        await conn.execute("SELECT pg_notify('consent_systems', '')")
    assert (await stack.dsr.delete(f"/v1/systems/crm/keys/{revoked['key_id']}", headers=MANAGER)).status_code == 204
    await eventually(lambda: _refused_by_consent(stack, revoked["key"]))
    await asyncio.sleep(max(0.0, (soon - datetime.now(UTC)).total_seconds()) + 0.05)

    def event() -> dict:
        return {**consent_event(purpose="marketing_email"), "source": "agency/crm"}

    topic = "consent.inbound"
    good = event()
    value = json.dumps(good).encode()
    tampered = event()
    tampered_value = json.dumps(tampered).encode()
    tampered_headers = recordsig.sign_headers(topic, tampered_value, api_key(crm))
    tampered["data"]["purpose"] = "marketing_sms"
    other_topic = event()
    other_value = json.dumps(other_topic).encode()
    cases = {
        b"unsigned": (event(), None, "not signed"),
        b"tampered": (tampered, tampered_headers, "does not match"),
        b"other-topic": (other_topic, recordsig.sign_headers("dsr.task-results", other_value, api_key(crm)),
                         "does not match"),
        b"revoked": (event(), revoked["key"], "revoked"),
        b"expired": (event(), expired["key"], "expired"),
        b"before-signing": (event(), old["key"], "issue a new key"),
        b"unknown-key": (event(), "dgk_0123456789abcdef.not-a-key", "not a key of any clinic system"),
    }
    messages = []
    for kafka_key, (ev, signing, _) in cases.items():
        raw = other_value if kafka_key == b"other-topic" else json.dumps(ev).encode()
        if isinstance(signing, str):
            messages.append(signed(topic, (kafka_key, raw, []), signing))
        else:
            messages.append((kafka_key, raw, signing or []))
    messages.append(signed(topic, (b"good", value, []), api_key(crm)))
    await produce(stack.bootstrap, topic, messages, signed_by=None)
    for kafka_key, (_, _, why) in cases.items():
        reason = await _dead_letter_reason(stack, kafka_key)
        assert reason.startswith("401 Unauthorized") and why in reason, (kafka_key, reason)
    assert await eventually(lambda: _recorded(stack, good)) == [good["id"]]
    for ev, _, _ in cases.values():
        assert not await _recorded(stack, ev)


async def _crm_key(stack, **body) -> dict:
    response = await stack.dsr.post("/v1/systems/crm/keys", headers=MANAGER, json={"name": "test", **body})
    assert response.status_code == 201, response.text
    issued = response.json()
    await eventually(lambda: _known_to_consent(stack, {"Authorization": f"Bearer {issued['key']}"}))
    return issued


async def _refused_by_consent(stack, key: str) -> bool:
    response = await stack.consent.get("/v1/purposes", headers={"Authorization": f"Bearer {key}"})
    return response.status_code == 401


async def test_a_system_cannot_answer_another_systems_task_over_kafka(stack):
    await register_system(stack, system_id="emr", name="EMR", categories=["name"], classes=["patient_roster"])
    crm = await _crm(stack)
    emr = await system_key(stack, "emr")
    revoked = await system_key(stack, "emr", "to revoke")
    listed = (await stack.dsr.get("/v1/systems/emr/keys", headers=MANAGER)).json()
    revoked_id = next(k["key_id"] for k in listed if k["name"] == "to revoke")
    assert (await stack.dsr.delete(f"/v1/systems/emr/keys/{revoked_id}", headers=MANAGER)).status_code == 204
    opened, approved = await approved_request(stack, subject_id=random_id("patient"))
    emr_task = next(t for t in approved["tasks"] if t["system_id"] == "emr")
    answer = {"task_id": emr_task["task_id"], "request_id": opened["request_id"], "system_id": "emr",
              "subject_id": opened["subject_id"], "outcome": "no_data"}

    def result(source: str) -> bytes:
        return json.dumps({"specversion": "1.0", "id": str(uuid.uuid4()), "source": source,
                           "type": "dsr.task.result", "data": answer}).encode()

    topic = "dsr.task-results"
    # The crm, as itself or writing the EMR's source; the EMR's answer unsigned, or signed with a
    # revoked key of its own: none of it is believed.
    await produce(stack.bootstrap, topic, [
        signed(topic, (b"crm-as-itself", result("agency/crm"), []), api_key(crm)),
        signed(topic, (b"crm-as-emr", result("clinic/emr"), []), api_key(crm)),
        (b"unsigned", result("clinic/emr"), []),
        signed(topic, (b"revoked", result("clinic/emr"), []), api_key(revoked)),
    ], signed_by=None)
    reason = await _dead_letter_reason(stack, b"crm-as-itself")
    assert "'crm'" in reason and "only its own tasks" in reason
    reason = await _dead_letter_reason(stack, b"crm-as-emr")
    assert reason.startswith("403") and "signed by the system 'crm'" in reason and "only its own tasks" in reason
    assert "not signed" in await _dead_letter_reason(stack, b"unsigned")
    assert "revoked" in await _dead_letter_reason(stack, b"revoked")
    assert await _task_status(stack, emr_task["task_id"]) == "sent"

    # Signed by the EMR's own key, the same answer is recorded.
    await produce(stack.bootstrap, topic, [(b"emr", result("clinic/emr"), [])], signed_by=api_key(emr))
    await eventually(lambda: _answered(stack, emr_task["task_id"]))


async def _task_status(stack, task_id: str) -> str:
    async with stack.pool.acquire() as conn:
        return await conn.fetchval("SELECT status FROM dsr.tasks WHERE task_id = $1::uuid", task_id)


async def _answered(stack, task_id: str) -> bool:
    return await _task_status(stack, task_id) == "answered"


async def test_a_forged_registry_event_mints_no_key(stack):
    """Only the request service signs dsr.systems events: one written by anybody else (a clinic
    system with write rights on the broker) is dead-lettered, and its key works nowhere."""
    from shared.cloudevents import new_event
    from shared.digests import sha256_hex
    from shared.events import SystemKeyChanged

    forged_key = "dgk_forged.key"
    data = SystemKeyChanged(key_id="key.0bad", system_id="website", name="forged", key_sha256=sha256_hex(forged_key),
                            created_at="2026-01-01T00:00:00Z", expires_at=None, revoked_at=None)
    event = new_event(source="dongui/dsr", type=data.event_type, subject=data.key_id, data=data.model_dump(mode="json"))
    value = json.dumps({**event.model_dump(mode="json"), "dongsig": "0" * 64}).encode()
    await produce(stack.bootstrap, "dsr.systems", [(b"key.0bad", value, [])])
    reason = await _dead_letter_reason(stack, b"key.0bad")
    assert "not signed by the request service" in reason
    assert (await stack.consent.get("/v1/purposes", headers={"Authorization": f"Bearer {forged_key}"})).status_code == 401
