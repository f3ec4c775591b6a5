"""A task's sealed part opens for its own system only (shared/sealing.py): the request service
seals a rectification's corrections for each system with that system's task key, and gives the
key (``POST /v1/tasks/{task_id}/key``) to that system, for its own open task, and to no one else."""

from __future__ import annotations

import json
import uuid

from services.dsr.consent_client import TransitKeyGone
from shared.sealing import SealedDataError, decode_key, open_token, seal_to
from tests.dsr.factories import approved_request, register_system, system_key
from tests.support import MANAGER, STAFF, SYSTEM, eventually, random_id

CORRECTIONS = [{"item": "contact.phone", "current": "010-1111-2222", "corrected": "010-3333-4444"}]


async def _rectification(stack) -> dict:
    for system_id in ("emr", "crm"):
        await register_system(stack, system_id=system_id, name=system_id.upper(), categories=["contact"],
                              classes=["patient_roster"])
    subject = random_id("patient")
    opened, _ = await approved_request(stack, type="rectification", subject_id=subject,
                                       details={"corrections": CORRECTIONS})
    async with stack.pool.acquire() as conn:
        rows = await conn.fetch("SELECT task_id::text, system_id, plan FROM dsr.tasks WHERE request_id = $1::uuid",
                                uuid.UUID(opened["request_id"]))
    tasks = {r["system_id"]: r for r in rows}
    return {"request_id": opened["request_id"], "subject": subject, "tasks": tasks,
            "emr": await system_key(stack, "emr"), "crm": await system_key(stack, "crm")}


def _sealed(row) -> str:
    plan = row["plan"]
    return (json.loads(plan) if isinstance(plan, str) else plan)["sealed"]


async def test_a_system_gets_the_key_of_its_own_open_task_only_and_it_opens_nothing_else(stack):
    r = await _rectification(stack)
    emr_task, crm_task = r["tasks"]["emr"]["task_id"], r["tasks"]["crm"]["task_id"]

    given = await stack.dsr.post(f"/v1/tasks/{emr_task}/key", headers=r["emr"])
    assert given.status_code == 200 and given.headers["cache-control"] == "no-store", given.text
    jwk = given.json()
    assert (jwk["kty"], jwk["kid"], jwk["alg"], jwk["enc"]) == ("oct", r["subject"], "dir", "A256GCM")
    emr_key = decode_key(jwk["k"])
    assert open_token(_sealed(r["tasks"]["emr"]), emr_key) == {"corrections": CORRECTIONS}
    # The same corrections, sealed for the CRM with its own key: the EMR's key does not open them.
    try:
        open_token(_sealed(r["tasks"]["crm"]), emr_key)
        raise AssertionError("the EMR's task key opened the CRM's task")
    except SealedDataError:
        pass

    # Not its task, not a system, no such task: refused, with a problem naming why.
    for path, headers, status in (
        (f"/v1/tasks/{crm_task}/key", r["emr"], 403),
        (f"/v1/tasks/{emr_task}/key", SYSTEM, 403),  # the development key is the website's
        (f"/v1/tasks/{emr_task}/key", STAFF, 403),
        (f"/v1/tasks/{emr_task}/key", MANAGER, 403),
        (f"/v1/tasks/{emr_task}/key", {}, 401),
        (f"/v1/tasks/{uuid.uuid4()}/key", r["emr"], 404),
        ("/v1/tasks/not-a-uuid/key", r["emr"], 404),
    ):
        refused = await stack.dsr.post(path, headers=headers)
        assert refused.status_code == status, (path, headers, refused.text)
        assert refused.headers["content-type"] == "application/problem+json"

    # Once answered, the key is given no more.
    answer = {"task_id": emr_task, "request_id": r["request_id"], "system_id": "emr", "subject_id": r["subject"],
              "outcome": "done"}
    # Any system may have the public key (here the website's development key): it only seals.
    public = (await stack.consent.post(f"/v1/subjects/{r['subject']}/transit-key", headers=SYSTEM)).json()
    answer["sealed"] = seal_to({"note": "연락처 변경함 010-3333-4444"}, public, kid=r["subject"])
    recorded = await stack.dsr.post(f"/v1/tasks/{emr_task}/result", json=answer, headers=r["emr"])
    assert recorded.status_code == 200, recorded.text
    late = await stack.dsr.post(f"/v1/tasks/{emr_task}/key", headers=r["emr"])
    assert late.status_code == 409, late.text
    # The EMR's sealed answer: what a system holds (the public key, its task key) opens none of it.
    try:
        open_token(answer["sealed"], emr_key)
        raise AssertionError("a system's task key opened a sealed answer")
    except SealedDataError:
        pass

    crm_answer = {**answer, "task_id": crm_task, "system_id": "crm"}
    del crm_answer["sealed"]
    assert (await stack.dsr.post(f"/v1/tasks/{crm_task}/result", json=crm_answer, headers=r["crm"])).status_code == 200

    async def noted() -> bool:
        result = (await stack.dsr.get(f"/v1/requests/{r['request_id']}/result", headers=MANAGER)).json()
        emr = next((s for s in result.get("systems", []) if s["system_id"] == "emr"), None)
        return emr is not None and emr["note"] == "연락처 변경함 010-3333-4444"

    await eventually(noted)


async def test_the_task_key_is_refused_once_the_subject_was_erased(stack):
    r = await _rectification(stack)
    emr_task = r["tasks"]["emr"]["task_id"]

    async def gone(subject_id: str) -> bytes:
        raise TransitKeyGone(subject_id)

    real = stack.service.transit_key
    stack.service.transit_key = gone
    try:
        refused = await stack.dsr.post(f"/v1/tasks/{emr_task}/key", headers=r["emr"])
    finally:
        stack.service.transit_key = real
    assert refused.status_code == 410 and refused.headers["content-type"] == "application/problem+json", refused.text
    assert "erased" in refused.json()["detail"]
