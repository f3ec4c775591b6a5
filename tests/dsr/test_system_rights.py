"""Least privilege for clinic systems (issue 18): each system publishes only as its own source, checks
only its registered purposes, reads no consent history or birth dates unless granted, and answers
only its own tasks, over HTTP and over Kafka."""

from __future__ import annotations

import json
import uuid

from tests.dsr.factories import approved_request, register_system, system_key
from tests.support import (
    MANAGER,
    STAFF,
    SYSTEM,
    consent_event,
    eventually,
    produce,
    random_id,
    read_to_end,
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

    # On Kafka, an event whose source is no active system's is dead-lettered with the reason.
    stranger = {**consent_event(), "source": "somewhere/else"}
    await produce(stack.bootstrap, "consent.inbound", [(b"stranger", json.dumps(stranger).encode(), [])])
    reason = await _dead_letter_reason(stack, b"stranger")
    assert "somewhere/else" in reason and "not that of an active clinic system" in reason


async def test_a_system_cannot_answer_another_systems_task_over_kafka(stack):
    await register_system(stack, system_id="emr", name="EMR", categories=["name"], classes=["patient_roster"])
    await _crm(stack)
    opened, approved = await approved_request(stack, subject_id=random_id("patient"))
    emr_task = next(t for t in approved["tasks"] if t["system_id"] == "emr")
    answer = {"task_id": emr_task["task_id"], "request_id": opened["request_id"], "system_id": "emr",
              "subject_id": opened["subject_id"], "outcome": "no_data"}
    forged = {"specversion": "1.0", "id": str(uuid.uuid4()), "source": "agency/crm", "type": "dsr.task.result",
              "data": answer}
    await produce(stack.bootstrap, "dsr.task-results", [(b"forged", json.dumps(forged).encode(), [])])
    reason = await _dead_letter_reason(stack, b"forged")
    assert "'crm'" in reason and "only its own tasks" in reason
    request = (await stack.dsr.get(f"/v1/requests/{opened['request_id']}", headers=STAFF)).json()
    assert request["status"] != "completed"


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
