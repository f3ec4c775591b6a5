"""Whole flows: the request service, the consent service and the example clinic systems (EMR,
website, CRM) on one real database and one real broker."""

from __future__ import annotations

from tests.dsr.conftest import SYSTEM_IDS
from tests.dsr.factories import (
    approve,
    approved_request,
    auth,
    child_request,
    file,
    register_system,
    request_body,
    system_key,
    verify,
)
from tests.support import MANAGER, STAFF, SYSTEM, consent_event, eventually, guardian, read_to_end


async def _status(stack, request_id: str, *statuses: str):
    body = (await stack.dsr.get(f"/v1/requests/{request_id}", headers=STAFF)).json()
    return body if body["status"] in statuses else None


async def _permission(stack, subject: str, purpose: str, reason: str):
    body = (await stack.consent.get(f"/v1/subjects/{subject}/permissions/{purpose}", headers=STAFF)).json()
    return body if body["reason"] == reason else None


async def _all_answered(stack, request_id: str) -> bool:
    tasks = (await stack.dsr.get(f"/v1/requests/{request_id}", headers=STAFF)).json()["tasks"]
    return bool(tasks) and all(t["status"] == "answered" for t in tasks)


async def grant(stack, subject: str, purpose: str = "marketing_email", **kwargs) -> None:
    response = await stack.consent.post("/v1/consent-events", headers=SYSTEM,
                                        json=consent_event(subject_id=subject, purpose=purpose, **kwargs))
    assert response.status_code == 201, response.text


async def test_a_guardians_access_request_for_a_child_is_held_until_verified_then_answered(stack, clinic):
    await clinic()
    await grant(stack, "patient-2002", "sensitive_health", birth_date="2016-05-05", actor=guardian(), language="vi")
    opened = await file(stack, child_request(subject_id="patient-2002"))
    assert opened["by_guardian"] is True
    assert opened["waiting_for"] == ["identity_verification", "proof_of_guardianship"]
    # Nothing before verification: the filing is committed and the outbox is empty (what it had is
    # on the broker), and a scheduler pass since added nothing either.
    await stack.scheduler_passes(1)
    assert await read_to_end(stack.bootstrap, "dsr.tasks") == []

    await verify(stack, opened["request_id"], representative=True)
    approved = await approve(stack, opened["request_id"])
    assert approved["status"] == "in_progress" and len(approved["tasks"]) == 3

    done = await eventually(lambda: _status(stack, opened["request_id"], "completed"), timeout=30)
    assert {t["outcome"] for t in done["tasks"]} == {"done", "no_data"}
    result = (await stack.dsr.get(f"/v1/requests/{opened['request_id']}/result", headers=auth(opened["token"]))).json()
    assert "treatment_records" in result["items_held"]
    assert [c["purpose"] for c in result["consents"]] == ["sensitive_health"]
    assert result["consents"][0]["actor"]["name"] == "Nguyễn Thị Lan"
    emr = next(s for s in result["systems"] if s["system_id"] == "emr")
    assert emr["outcome"] == "done" and emr["exported"]
    steps = [t["to_status"] for t in done["transitions"]]
    assert steps == ["received", "verifying", "in_review", "approved", "in_progress", "completed"]


async def test_a_childs_own_request_goes_on_once_a_guardian_joins(stack, clinic):
    await clinic()
    child = await file(stack, request_body(name="Phạm Minh Anh", birth_date="2016-05-05", subject_id="patient-2002",
                                           language="vi", contact="anh@example.com"))
    # A child cannot ask alone: the filing is committed, and a scheduler pass since has not moved it.
    await stack.scheduler_passes(1)
    assert (await _status(stack, child["request_id"], "received")) is not None

    await stack.dsr.post(f"/v1/requests/{child['request_id']}/guardian", headers=auth(child["token"]),
                         json={"name": "Nguyễn Thị Lan", "contact": "lan@example.com", "relationship_detail": "mother"})
    await verify(stack, child["request_id"], representative=True)
    await approve(stack, child["request_id"])

    await eventually(lambda: _status(stack, child["request_id"], "completed"), timeout=30)


async def test_a_rectification_holds_processing_until_the_correction_is_done(stack, clinic):
    await clinic.register_only()
    await grant(stack, "patient-1001")
    opened = await file(stack, request_body(type="rectification", subject_id="patient-1001", details={
        "corrections": [{"item": "contact.phone", "current": "010-2345-6789", "corrected": "010-8765-4321"}]}))
    await stack.scheduler_passes(1)
    assert (await _permission(stack, "patient-1001", "marketing_email", "granted")) is not None  # who asks? unknown yet
    await verify(stack, opened["request_id"])

    # Held from verification, before any decision: the data is not used while the correction is pending.
    held = await eventually(lambda: _permission(stack, "patient-1001", "marketing_email", "hold"))
    assert held["allowed"] is False
    assert (await _permission(stack, "patient-1001", "treatment", "legal_basis")) is not None
    await approve(stack, opened["request_id"])
    assert (await _permission(stack, "patient-1001", "marketing_email", "hold")) is not None

    await clinic()  # the systems come online and correct the data
    await eventually(lambda: _status(stack, opened["request_id"], "completed"), timeout=30)
    await eventually(lambda: _permission(stack, "patient-1001", "marketing_email", "granted"))
    result = (await stack.dsr.get(f"/v1/requests/{opened['request_id']}/result", headers=MANAGER)).json()
    emr = next(s for s in result["systems"] if s["system_id"] == "emr")
    assert emr["outcome"] == "done"


async def test_a_correction_refused_releases_its_hold_and_an_upheld_objection_holds_again(stack, clinic):
    await clinic.register_only()
    await grant(stack, "patient-1002")
    opened = await file(stack, request_body(type="rectification", subject_id="patient-1002", language="en", details={
        "corrections": [{"item": "contact.phone", "current": "010-2345-6789", "corrected": "010-8765-4321"}]}))
    await verify(stack, opened["request_id"])
    await eventually(lambda: _permission(stack, "patient-1002", "marketing_email", "hold"))

    refused = await stack.dsr.post(f"/v1/requests/{opened['request_id']}/decision", headers=MANAGER, json={
        "decision": "reject", "ground": "kr-correction-accurate", "legal_ground": "the chart matches the ID"})
    assert refused.status_code == 200, refused.text
    await eventually(lambda: _permission(stack, "patient-1002", "marketing_email", "granted"))

    objection = await file(stack, request_body(type="objection", subject_id="patient-1002", language="en",
                                               details={"objects_to": opened["reference"]}))
    await verify(stack, objection["request_id"])
    await approve(stack, objection["request_id"])  # upheld: the correction is pending again, and held again
    await eventually(lambda: _permission(stack, "patient-1002", "marketing_email", "hold"))
    withdrawn = await stack.dsr.post(f"/v1/requests/{opened['request_id']}/withdraw", headers=STAFF, json={})
    assert withdrawn.status_code == 200, withdrawn.text
    await eventually(lambda: _permission(stack, "patient-1002", "marketing_email", "granted"))


async def test_an_erasure_is_refused_in_part_by_legal_retention_and_shreds_the_consent_key(stack, clinic):
    await clinic()
    await grant(stack, "patient-1001")
    opened = await file(stack, request_body(type="erasure", subject_id="patient-1001", language="en"))
    await verify(stack, opened["request_id"])
    await approve(stack, opened["request_id"])

    done = await eventually(lambda: _status(stack, opened["request_id"], "partially_completed"), timeout=30)
    result = (await stack.dsr.get(f"/v1/requests/{opened['request_id']}/result", headers=auth(opened["token"]))).json()
    kept = {(k["system_id"], k["retention_class"]) for k in result["kept_by_law"]}
    assert ("emr", "medical_record") in kept
    assert all("Medical Service Act" in k["legal_ground"] for k in result["kept_by_law"] if k["system_id"] == "emr")
    crm = next(s for s in result["systems"] if s["system_id"] == "crm")
    assert crm["outcome"] == "done" and crm["retained"] == []
    assert done["transitions"][-1]["to_status"] == "partially_completed"

    erased = await eventually(lambda: _permission(stack, "patient-1001", "marketing_email", "erased"))
    assert erased["allowed"] is False
    history = (await stack.consent.get("/v1/subjects/patient-1001/consents/history", headers=STAFF)).json()
    assert history["records"][0]["evidence"] is None  # the key is gone; the ledger remains


async def test_a_portal_consent_withdrawal_takes_effect_at_once_after_verification(stack, clinic):
    for purpose in ("marketing_email", "marketing_sms"):
        await grant(stack, "patient-3003", purpose)
    opened = await file(stack, request_body(type="consent_withdrawal", subject_id="patient-3003",
                                            details={"purposes": ["marketing_sms"]}))
    assert opened["channel"] == "portal"
    done = await verify(stack, opened["request_id"])

    # No decision: the verification carried it out, with the requester as the actor.
    assert done["status"] == "completed"
    steps = [(t["to_status"], t["actor"]) for t in done["transitions"]]
    assert ("approved", "requester") in steps
    await eventually(lambda: _permission(stack, "patient-3003", "marketing_sms", "withdrawn"))
    assert (await _permission(stack, "patient-3003", "marketing_email", "granted")) is not None
    history = (await stack.consent.get("/v1/subjects/patient-3003/consents/history", headers=STAFF)).json()
    withdrawal = next(r for r in history["records"] if r["purpose"] == "marketing_sms" and r["decision"] == "withdrawn")
    assert withdrawal["actor"]["role"] == "self" and withdrawal["method"] == "web"
    refused = await stack.dsr.post(f"/v1/requests/{opened['request_id']}/decision", json={"decision": "approve"},
                                   headers=MANAGER)
    assert refused.status_code == 409  # nothing left to decide


async def test_membership_withdrawal_withdraws_its_consents_and_its_data_goes_from_every_system(stack, clinic):
    await clinic()
    await grant(stack, "patient-4004", "membership")
    await grant(stack, "patient-4004", "marketing_sms")
    await grant(stack, "patient-4004", "sensitive_health")
    opened = await file(stack, request_body(type="membership_withdrawal", subject_id="patient-4004"))
    done = await verify(stack, opened["request_id"])  # carried out at once, like a consent withdrawal
    assert done["status"] == "completed" and done["tasks"] == []  # the withdrawals it records destroy the data

    await eventually(lambda: _permission(stack, "patient-4004", "membership", "withdrawn"))
    assert (await _permission(stack, "patient-4004", "marketing_sms", "withdrawn")) is not None
    assert (await _permission(stack, "patient-4004", "sensitive_health", "granted")) is not None
    # Membership data goes from the website, the text-message list from the marketing agency (a
    # processor, which holds no membership class): each system confirms (issue 20).
    log = await eventually(lambda: _destroyed(stack, "patient-4004", 2), timeout=30)
    by_system = {row["system_id"]: row for row in log}
    assert by_system["website"]["trigger"] == "membership_withdrawal"
    assert by_system["website"]["destroyed"] == ["name", "login_id", "contact"]
    assert by_system["crm"]["processor"] is True and by_system["crm"]["destroyed"] == ["mobile_phone", "marketing_preferences"]


async def _destroyed(stack, subject: str, count: int) -> list[dict] | None:
    log = (await stack.dsr.get("/v1/destructions", params={"subject_id": subject}, headers=MANAGER)).json()
    confirmed = [row for row in log if row["status"] == "confirmed"]
    return confirmed if len(confirmed) >= count else None


async def test_an_access_report_is_assembled_from_three_systems_and_the_consent_ledger(stack, clinic):
    await clinic()
    await grant(stack, "patient-1001", "marketing_email")
    await grant(stack, "patient-1001", "membership")
    opened = await file(stack, request_body(subject_id="patient-1001", language="en"))
    await verify(stack, opened["request_id"])
    await approve(stack, opened["request_id"])

    await eventually(lambda: _status(stack, opened["request_id"], "completed"), timeout=30)
    report = (await stack.dsr.get(f"/v1/requests/{opened['request_id']}/result", headers=auth(opened["token"]))).json()

    assert {s["system_id"] for s in report["systems"] if s["exported"]} == set(SYSTEM_IDS)
    assert {"treatment_records", "login_id", "email"} <= set(report["items_held"])
    assert report["purposes"] and report["retention"]
    assert "Marketing agency (processor)" in report["recipients"]
    assert {c["purpose"] for c in report["consents"]} == {"marketing_email", "membership"}


async def test_a_restriction_holds_until_it_is_lifted(stack, clinic):
    await clinic()
    await grant(stack, "patient-3003")
    opened = await file(stack, request_body(type="restriction", subject_id="patient-3003"))
    await verify(stack, opened["request_id"])
    await approve(stack, opened["request_id"])

    await eventually(lambda: _permission(stack, "patient-3003", "marketing_email", "hold"))
    # Every system has answered the restriction (and a scheduler pass since saw it), but it stays
    # in progress until it is lifted.
    await eventually(lambda: _all_answered(stack, opened["request_id"]), timeout=30)
    await stack.scheduler_passes(1)
    assert (await _status(stack, opened["request_id"], "in_progress"))["waiting_for"] == ["clinic_systems", "lift"]

    lifted = await stack.dsr.post(f"/v1/requests/{opened['request_id']}/lift", headers=STAFF)
    assert lifted.status_code == 200
    await eventually(lambda: _status(stack, opened["request_id"], "completed"), timeout=30)
    await eventually(lambda: _permission(stack, "patient-3003", "marketing_email", "granted"))


async def test_task_results_over_http_and_bad_answers(stack):
    await register_system(stack, system_id="lab", name="Lab system", categories=["test_findings"],
                          classes=["test_findings"])
    opened, approved = await approved_request(stack, subject_id="patient-lab")
    [task] = approved["tasks"]
    answer = {"task_id": task["task_id"], "request_id": opened["request_id"], "system_id": "lab",
              "subject_id": "patient-lab", "outcome": "no_data"}

    await register_system(stack, system_id="pharmacy", name="Pharmacy", categories=["prescriptions"],
                          classes=["prescription"])
    lab, pharmacy = await system_key(stack, "lab"), await system_key(stack, "pharmacy")

    wrong_system = await stack.dsr.post(f"/v1/tasks/{task['task_id']}/result", headers=lab,
                                        json={**answer, "system_id": "emr"})
    # Another system's key cannot answer for the lab, whatever the body says.
    forged = await stack.dsr.post(f"/v1/tasks/{task['task_id']}/result", headers=pharmacy, json=answer)
    staff = await stack.dsr.post(f"/v1/tasks/{task['task_id']}/result", headers=STAFF, json=answer)
    first = await stack.dsr.post(f"/v1/tasks/{task['task_id']}/result", headers=lab, json=answer)
    again = await stack.dsr.post(f"/v1/tasks/{task['task_id']}/result", headers=lab, json=answer)

    assert wrong_system.status_code == 403 and wrong_system.json()["errors"][0]["field"] == "system_id"
    assert forged.status_code == 403 and forged.json()["errors"][0]["field"] == "system_id"
    assert staff.status_code == 403
    assert first.json() == {"task_id": task["task_id"], "recorded": True}
    assert again.json() == {"task_id": task["task_id"], "recorded": False}
    assert (await _status(stack, opened["request_id"], "completed")) is not None
