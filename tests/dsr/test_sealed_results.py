"""Clinic systems' answers sealed to the subject's public key, over HTTP and Kafka: opened,
kept under the request's key, refused when unusable, and never lost while consent is away."""

from __future__ import annotations

import json
import os
import uuid

from services.dsr.consent_client import TransitKeyGone
from shared.problems import Unavailable
from shared.sealing import public_jwk, seal, seal_to
from tests.dsr.factories import approved_request, file, register_system, request_body, system_key, verify
from tests.support import (
    MANAGER,
    SYSTEM,
    api_key,
    drain,
    eventually,
    processed_to_end,
    produce,
    random_id,
    read_to_end,
    signed,
)

EXPORT = [{"category": "name", "items": [{"name": "황보다솜"}], "purposes": ["treatment"]}]


async def _task(stack) -> dict:
    await register_system(stack, system_id="emr", name="EMR", categories=["name"], classes=["patient_roster"])
    opened, _ = await approved_request(stack, subject_id=random_id("patient"))
    async with stack.pool.acquire() as conn:
        row = await conn.fetchrow("SELECT task_id::text, request_id::text, system_id FROM dsr.tasks "
                                  "WHERE request_id = $1::uuid", uuid.UUID(opened["request_id"]))
    response = await stack.consent.post(f"/v1/subjects/{opened['subject_id']}/transit-key", headers=SYSTEM)
    return {**dict(row), "subject_id": opened["subject_id"], "key": response.json(),
            "emr": await system_key(stack, "emr")}


def _answer(task: dict, **sealed_fields) -> dict:
    body = {k: task[k] for k in ("task_id", "request_id", "system_id", "subject_id")}
    body["outcome"] = "done"
    body["sealed"] = seal_to(sealed_fields or {"exported": EXPORT}, task["key"], kid=task["subject_id"])
    return body


async def _exported(stack, task: dict) -> list:
    result = (await stack.dsr.get(f"/v1/requests/{task['request_id']}/result", headers=MANAGER)).json()
    return result["systems"][0]["exported"] if "systems" in result else None


async def test_a_sealed_answer_over_http_is_opened_or_refused_and_waits_for_consent(stack):
    task = await _task(stack)
    path = f"/v1/tasks/{task['task_id']}/result"
    wrong = dict(_answer(task), sealed=seal_to({"exported": EXPORT}, public_jwk(os.urandom(32), kid="x"),
                                                kid=task["subject_id"]))
    symmetric = dict(_answer(task), sealed=seal({"exported": EXPORT}, os.urandom(32), kid=task["subject_id"]))
    other_kid = dict(_answer(task), sealed=seal_to({"exported": EXPORT}, task["key"], kid="someone-else"))
    ids = dict(_answer(task), sealed=seal_to({"outcome": "failed"}, task["key"], kid=task["subject_id"]))
    twice = dict(_answer(task), exported=EXPORT)
    for bad in (wrong, symmetric, other_kid, ids, twice):
        response = await stack.dsr.post(path, json=bad, headers=task["emr"])
        assert response.status_code == 422 and response.json()["errors"][0]["field"] == "sealed", response.text
        # The reason names the answer's own fields, not a consent event's.
        assert "data." not in response.json()["detail"], response.text
    response = await stack.dsr.post(path, json=other_kid, headers=task["emr"])
    assert response.json()["detail"] == (
        f"sealed was sealed for 'someone-else', not for subject_id '{task['subject_id']}'."), response.text

    real = stack.service.transit_key

    async def away(subject_id: str) -> bytes:
        raise Unavailable("consent is restarting")

    stack.service.transit_key = away
    try:
        response = await stack.dsr.post(path, json=_answer(task), headers=task["emr"])
        assert response.status_code == 503, response.text
    finally:
        stack.service.transit_key = real
    response = await stack.dsr.post(path, json=_answer(task), headers=task["emr"])
    assert response.status_code == 200 and response.json()["recorded"] is True, response.text
    assert await _exported(stack, task) == [{**EXPORT[0], "retention_class": None, "recipients": []}]
    async with stack.pool.acquire() as conn:
        stored = await conn.fetchval("SELECT result FROM dsr.tasks WHERE task_id = $1::uuid", uuid.UUID(task["task_id"]))
    assert "황보다솜".encode() not in stored


async def test_a_sealed_answer_on_kafka_waits_while_consent_is_away_and_is_never_dead_lettered(stack):
    task = await _task(stack)
    real, calls = stack.service.transit_key, []

    async def flaky(subject_id: str) -> bytes:
        calls.append(subject_id)
        if len(calls) < 3:
            raise Unavailable("consent is restarting")
        return await real(subject_id)

    stack.service.transit_key = flaky
    event = {"specversion": "1.0", "id": str(uuid.uuid4()), "source": "clinic/emr", "type": "dsr.task.result",
             "subject": task["subject_id"], "data": _answer(task)}
    await produce(stack.bootstrap, "dsr.task-results",
                  [(task["subject_id"].encode(), json.dumps(event).encode(),
                    [("content-type", b"application/cloudevents+json")])], signed_by=api_key(task["emr"]))
    assert (await eventually(lambda: _exported(stack, task), timeout=30))[0]["items"] == EXPORT[0]["items"]
    assert len(calls) >= 3 and set(calls) == {task["subject_id"]}
    await processed_to_end(stack.bootstrap, "dongui-dsr-task-results", "dsr.task-results")
    assert await read_to_end(stack.bootstrap, "privacy.dead-letter") == []


async def test_an_unsigned_sealed_answer_never_makes_the_request_service_ask_for_a_key(stack):
    """The signature is checked (from memory) before the batch's transit keys are fetched: a
    record naming a real task but not signed by its system, or signed by another key, is
    dead-lettered without the consent service being asked for the subject's key."""
    task = await _task(stack)
    real, calls = stack.service.transit_key, []

    async def counted(subject_id: str) -> bytes:
        calls.append(subject_id)
        return await real(subject_id)

    stack.service.transit_key = counted
    messages = []
    for kafka_key, signer in ((b"unsigned", None), (b"forged", "dgk_0123456789abcdef.not-a-key")):
        event = {"specversion": "1.0", "id": str(uuid.uuid4()), "source": "clinic/emr", "type": "dsr.task.result",
                 "subject": task["subject_id"], "data": _answer(task)}
        message = (kafka_key, json.dumps(event).encode(), [("content-type", b"application/cloudevents+json")])
        messages.append(signed("dsr.task-results", message, signer) if signer else message)
    await produce(stack.bootstrap, "dsr.task-results", messages, signed_by=None)
    await processed_to_end(stack.bootstrap, "dongui-dsr-task-results", "dsr.task-results")
    letters = {r.key: dict(r.headers)["dongui-dlq-reason"].decode()
               for r in await read_to_end(stack.bootstrap, "privacy.dead-letter")}
    assert set(letters) == {b"unsigned", b"forged"} and all(r.startswith("401") for r in letters.values()), letters
    assert calls == []


async def test_an_answer_sealed_for_an_erased_subject_is_recorded_without_its_personal_part(stack):
    task = await _task(stack)

    async def gone(subject_id: str) -> bytes:
        raise TransitKeyGone(subject_id)

    stack.service.transit_key = gone
    response = await stack.dsr.post(f"/v1/tasks/{task['task_id']}/result", json=_answer(task), headers=task["emr"])
    assert response.status_code == 200, response.text
    result = (await stack.dsr.get(f"/v1/requests/{task['request_id']}/result", headers=MANAGER)).json()
    (emr,) = result["systems"]
    assert emr["outcome"] == "done" and emr["exported"] == [] and "destroyed" in emr["note"]


async def test_an_event_id_sent_again_is_a_replay_only_with_the_same_answer(stack):
    """Kafka: the same id again (even sealed anew) is a replay; on another answer it is dead-lettered."""
    task = await _task(stack)
    event_id = str(uuid.uuid4())

    def message(data: dict) -> tuple:
        event = {"specversion": "1.0", "id": event_id, "source": "clinic/emr", "type": "dsr.task.result",
                 "subject": task["subject_id"], "time": "2026-12-01T09:00:00Z", "data": data}
        return task["subject_id"].encode(), json.dumps(event).encode(), [("content-type", b"application/cloudevents+json")]

    first = _answer(task)
    await produce(stack.bootstrap, "dsr.task-results", [message(first)], signed_by=api_key(task["emr"]))
    assert (await eventually(lambda: _exported(stack, task), timeout=30))[0]["items"] == EXPORT[0]["items"]

    resealed = _answer(task)  # the same answer, sealed again: another nonce, other bytes
    assert resealed["sealed"] != first["sealed"]
    other = dict(_answer(task), outcome="failed")
    await produce(stack.bootstrap, "dsr.task-results", [message(first), message(resealed), message(other)],
                  signed_by=api_key(task["emr"]))

    async def dead_letters():
        return await drain(stack.bootstrap, "privacy.dead-letter", seconds=0.2)

    # One partition (one subject): once the last is dead-lettered, the two before it were handled.
    (dead,) = await eventually(dead_letters, timeout=30)
    headers = dict(dead.headers)
    assert json.loads(dead.value)["data"]["outcome"] == "failed"
    assert b"already used for another answer" in headers["dongui-dlq-reason"], headers
    async with stack.pool.acquire() as conn:
        outcome = await conn.fetchval("SELECT outcome FROM dsr.tasks WHERE task_id = $1::uuid", uuid.UUID(task["task_id"]))
        claims = await conn.fetchval("SELECT count(*) FROM dsr.processed_events WHERE event_id = $1", event_id)
    assert outcome == "done" and claims == 1


async def test_approving_a_rectification_asks_for_the_key_outside_any_lock_and_writes_nothing_without_it(stack):
    """Invariant 14: the transit key is asked of the consent service before the transaction that
    locks the request (another transaction can lock it meanwhile); 503 while consent is away and
    409 once the subject was erased, each with nothing written."""
    await register_system(stack, system_id="emr", name="EMR", categories=["contact"], classes=["patient_roster"])
    subject_id = random_id("patient")
    opened = await file(stack, request_body(type="rectification", subject_id=subject_id, details={
        "corrections": [{"item": "contact.phone", "current": "010-2345-6789", "corrected": "010-8765-4321"}]}))
    await verify(stack, opened["request_id"])
    request_id = uuid.UUID(opened["request_id"])
    real, unlocked = stack.service.transit_key, []

    async def lockable() -> bool:
        async with stack.pool.acquire() as conn, conn.transaction():
            await conn.execute("SET LOCAL lock_timeout = '200ms'")
            return await conn.fetchval("SELECT true FROM dsr.requests WHERE request_id = $1 FOR UPDATE", request_id)

    async def away(subject: str) -> bytes:
        unlocked.append(await lockable())
        raise Unavailable("consent is restarting")

    async def gone(subject: str) -> bytes:
        raise TransitKeyGone(subject)

    async def written() -> tuple:
        async with stack.pool.acquire() as conn:
            return (await conn.fetchval("SELECT status FROM dsr.requests WHERE request_id = $1", request_id),
                    await conn.fetchval("SELECT count(*) FROM dsr.transitions WHERE request_id = $1", request_id),
                    await conn.fetchval("SELECT count(*) FROM dsr.tasks WHERE request_id = $1", request_id),
                    await conn.fetchval("SELECT count(*) FROM dsr.holds WHERE request_id = $1", request_id))

    before = await written()
    decision = f"/v1/requests/{opened['request_id']}/decision"
    try:
        for lookup, status in ((away, 503), (gone, 409)):
            stack.service.transit_key = lookup
            response = await stack.dsr.post(decision, json={"decision": "approve"}, headers=MANAGER)
            assert response.status_code == status, response.text
            assert await written() == before
    finally:
        stack.service.transit_key = real
    assert unlocked == [True]
    response = await stack.dsr.post(decision, json={"decision": "approve"}, headers=MANAGER)
    assert response.status_code == 200 and response.json()["status"] == "in_progress", response.text
