"""A system that is gone never holds a request up (issue 18): the privacy manager retires it, or
closes one unanswered task by hand, with a reason the result and the audit trail show."""

from __future__ import annotations

import uuid

from tests.dsr.factories import approved_request, register_system, system_key
from tests.support import MANAGER, STAFF, api_key, eventually, produce, random_id, read_to_end, structured


async def _status(stack, request_id: str) -> str:
    return (await stack.dsr.get(f"/v1/requests/{request_id}", headers=STAFF)).json()["status"]


async def _audit_reasons(stack, request_id: str) -> list[str]:
    async with stack.pool.acquire() as conn:
        rows = await conn.fetch("SELECT actor, reason FROM dsr.transitions WHERE request_id = $1::uuid ORDER BY id",
                                request_id)
    return [f"{r['actor']}: {r['reason']}" for r in rows]


async def test_a_retired_systems_open_requests_complete_and_it_gets_no_more_tasks(stack):
    await register_system(stack, system_id="old-emr", name="Old EMR", categories=["name"], classes=["patient_roster"])
    key = await system_key(stack, "old-emr")
    opened, approved = await approved_request(stack, subject_id=random_id("patient"))
    assert [t["system_id"] for t in approved["tasks"]] == ["old-emr"]
    assert await _status(stack, opened["request_id"]) == "in_progress"

    for caller in (STAFF, key):
        refused = await stack.dsr.post("/v1/systems/old-emr/retire", json={"reason": "x"}, headers=caller)
        assert refused.status_code == 403
    retired = await stack.dsr.post("/v1/systems/old-emr/retire", json={"reason": "replaced by the new EMR"},
                                   headers=MANAGER)
    assert retired.status_code == 200, retired.text
    assert retired.json()["retired_at"] and retired.json()["retire_reason"] == "replaced by the new EMR"

    # The request it held moved on, and its result says why nothing came from the old EMR.
    assert await _status(stack, opened["request_id"]) == "partially_completed"
    result = (await stack.dsr.get(f"/v1/requests/{opened['request_id']}/result", headers=MANAGER)).json()
    [entry] = result["systems"]
    assert entry["outcome"] == "failed" and "replaced by the new EMR" in entry["note"]
    assert "Closed by hand by dev-manager" in entry["note"]
    assert any("closed by hand: the system was retired" in r for r in await _audit_reasons(stack, opened["request_id"]))
    # Its key works no more; it is not registered again under the same id; new requests skip it.
    assert (await stack.dsr.post("/v1/systems", json={"system_id": "old-emr", "name": "x", "data_categories": [],
                                                       "retention_classes": []}, headers=key)).status_code == 401
    again = await stack.dsr.post("/v1/systems", headers=MANAGER, json={
        "system_id": "old-emr", "name": "Old EMR", "data_categories": [], "retention_classes": []})
    assert again.status_code == 409
    # Retiring again (a retried call) is answered like the first and changes nothing.
    twice = await stack.dsr.post("/v1/systems/old-emr/retire", json={"reason": "twice"}, headers=MANAGER)
    assert twice.status_code == 200 and twice.json()["retire_reason"] == "replaced by the new EMR", twice.text
    assert twice.json()["retired_at"] == retired.json()["retired_at"]
    # Its replacement publishes as the old one's source, which is free again.
    new = await stack.dsr.post("/v1/systems", headers=MANAGER, json={
        "system_id": "new-emr", "name": "New EMR", "data_categories": ["name"], "retention_classes": ["patient_roster"],
        "source": "clinic/old-emr", "purposes": []})
    assert new.status_code == 201, new.text
    _, later = await approved_request(stack, subject_id=random_id("patient"))
    assert [t["system_id"] for t in later["tasks"]] == ["new-emr"]

    async def refused_by_consent() -> bool:  # the consent service learnt it too
        return (await stack.consent.get("/v1/purposes", headers=key)).status_code == 401

    await eventually(refused_by_consent)


async def test_a_task_closed_by_hand_shows_its_reason_and_closer_in_the_result(stack):
    for system_id in ("lab", "pharmacy"):
        await register_system(stack, system_id=system_id, name=system_id, categories=["x"], classes=["prescription"])
    opened, approved = await approved_request(stack, subject_id=random_id("patient"))
    lab = next(t for t in approved["tasks"] if t["system_id"] == "lab")
    path = f"/v1/tasks/{lab['task_id']}/close"
    assert (await stack.dsr.post(path, json={"reason": "x"}, headers=STAFF)).status_code == 403
    assert (await stack.dsr.post(path, json={"reason": ""}, headers=MANAGER)).status_code == 422
    closed = await stack.dsr.post(path, json={"reason": "the lab system lost this patient's records"}, headers=MANAGER)
    assert closed.status_code == 200, closed.text
    assert (await stack.dsr.post(path, json={"reason": "again"}, headers=MANAGER)).status_code == 409
    # The lab's answer, come too late: refused, saying so, never silently dropped.
    late = await stack.dsr.post(f"/v1/tasks/{lab['task_id']}/result", headers=await system_key(stack, "lab"), json={
        "task_id": lab["task_id"], "request_id": opened["request_id"], "system_id": "lab",
        "subject_id": opened["subject_id"], "outcome": "no_data"})
    assert late.status_code == 409 and "closed by hand by dev-manager" in late.json()["detail"], late.text
    # The same on Kafka: a dead letter saying why, which the privacy manager is told of.
    answer = {"specversion": "1.0", "id": str(uuid.uuid4()), "source": "clinic/lab", "type": "dsr.task.result",
              "subject": opened["subject_id"], "datacontenttype": "application/json",
              "data": {"task_id": lab["task_id"], "request_id": opened["request_id"], "system_id": "lab",
                       "subject_id": opened["subject_id"], "outcome": "no_data"}}
    _, value, headers = structured(answer)
    await produce(stack.bootstrap, "dsr.task-results", [(b"late-lab", value, headers)],
                  signed_by=api_key(await system_key(stack, "lab")))

    async def dead_lettered() -> str | None:
        for message in await read_to_end(stack.bootstrap, "privacy.dead-letter"):
            if message.key == b"late-lab":
                return dict(message.headers)["dongui-dlq-reason"].decode()
        return None

    reason = await eventually(dead_lettered)
    assert reason.startswith("409") and "closed by hand" in reason, reason
    # The pharmacy has not answered: the request still waits for it, and only for it.
    assert await _status(stack, opened["request_id"]) == "in_progress"
    pharmacy = next(t for t in approved["tasks"] if t["system_id"] == "pharmacy")
    await stack.dsr.post(f"/v1/tasks/{pharmacy['task_id']}/result", headers=await system_key(stack, "pharmacy"), json={
        "task_id": pharmacy["task_id"], "request_id": opened["request_id"], "system_id": "pharmacy",
        "subject_id": opened["subject_id"], "outcome": "no_data"})
    assert await _status(stack, opened["request_id"]) == "partially_completed"
    result = (await stack.dsr.get(f"/v1/requests/{opened['request_id']}/result", headers=MANAGER)).json()
    entry = next(s for s in result["systems"] if s["system_id"] == "lab")
    assert "lost this patient's records" in entry["note"] and "dev-manager" in entry["note"]
    assert any("dev-manager: task" in r and "lost this patient's records" in r
               for r in await _audit_reasons(stack, opened["request_id"]))


async def test_a_restriction_lifted_after_its_system_was_retired_completes_without_it(stack):
    await register_system(stack, system_id="old-crm", name="Old CRM", categories=["x"], classes=["membership"])
    opened, approved = await approved_request(stack, type="restriction", subject_id=random_id("patient"))
    [task] = approved["tasks"]
    await stack.dsr.post(f"/v1/tasks/{task['task_id']}/result", headers=await system_key(stack, "old-crm"), json={
        "task_id": task["task_id"], "request_id": opened["request_id"], "system_id": "old-crm",
        "subject_id": opened["subject_id"], "outcome": "done"})
    assert await _status(stack, opened["request_id"]) == "in_progress"  # held until lifted
    assert (await stack.dsr.post("/v1/systems/old-crm/retire", json={"reason": "replaced"},
                                 headers=MANAGER)).status_code == 200
    lifted = await stack.dsr.post(f"/v1/requests/{opened['request_id']}/lift", headers=STAFF)
    assert lifted.status_code == 200, lifted.text
    # No lift task went to the retired system, so nothing is awaited: the request is done.
    assert await _status(stack, opened["request_id"]) == "completed"
    async with stack.pool.acquire() as conn:
        kinds = await conn.fetch("SELECT kind FROM dsr.tasks WHERE request_id = $1::uuid", opened["request_id"])
    assert [k["kind"] for k in kinds] == ["restrict"]
