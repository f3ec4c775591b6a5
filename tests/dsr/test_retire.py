"""A system that is gone never holds a request up (issue 18): the privacy manager retires it, or
closes one unanswered task by hand, with a reason the result and the audit trail show."""

from __future__ import annotations

from tests.dsr.factories import approved_request, register_system, system_key
from tests.support import MANAGER, STAFF, eventually, random_id


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
    result = (await stack.dsr.get(f"/v1/requests/{opened['request_id']}/result", headers=STAFF)).json()
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
    assert (await stack.dsr.post("/v1/systems/old-emr/retire", json={"reason": "twice"},
                                 headers=MANAGER)).status_code == 409
    await register_system(stack, system_id="new-emr", name="New EMR", categories=["name"], classes=["patient_roster"])
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
    # The pharmacy has not answered: the request still waits for it, and only for it.
    assert await _status(stack, opened["request_id"]) == "in_progress"
    pharmacy = next(t for t in approved["tasks"] if t["system_id"] == "pharmacy")
    await stack.dsr.post(f"/v1/tasks/{pharmacy['task_id']}/result", headers=await system_key(stack, "pharmacy"), json={
        "task_id": pharmacy["task_id"], "request_id": opened["request_id"], "system_id": "pharmacy",
        "subject_id": opened["subject_id"], "outcome": "no_data"})
    assert await _status(stack, opened["request_id"]) == "partially_completed"
    result = (await stack.dsr.get(f"/v1/requests/{opened['request_id']}/result", headers=STAFF)).json()
    entry = next(s for s in result["systems"] if s["system_id"] == "lab")
    assert "lost this patient's records" in entry["note"] and "dev-manager" in entry["note"]
    assert any("dev-manager: task" in r and "lost this patient's records" in r
               for r in await _audit_reasons(stack, opened["request_id"]))
