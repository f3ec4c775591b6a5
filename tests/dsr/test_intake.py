"""Intake, verification, decisions, deadlines and the requester's token."""

from __future__ import annotations

from datetime import datetime

from tests.dsr.factories import approve, auth, child_request, file, request_body, verify
from tests.support import MANAGER, STAFF, SYSTEM, random_id


async def test_a_request_is_filed_publicly_with_a_reference_a_token_and_a_deadline(stack):
    opened = await file(stack, request_body(subject_id="patient-1001"))

    assert opened["reference"].startswith("DSR-")
    assert opened["status"] == "verifying"
    assert opened["waiting_for"] == ["identity_verification"]
    received = datetime.fromisoformat(opened["received_at"])
    due = datetime.fromisoformat(opened["due_at"])
    assert 9 <= (due - received).days <= 10  # KR: 10 days, to the end of the local day
    assert "Decree" in opened["deadline_basis"]
    assert len(opened["token"]) >= 40


async def test_the_clinics_law_sets_the_deadline_and_the_persons_own_law_only_adds(stack):
    """A Seoul clinic answers within PIPA's 10 days whatever law the requester names; a Vietnamese
    resident also gets Vietnam's acknowledgement within 2 working days (a right added, never a
    longer deadline)."""
    vn = await file(stack, request_body(jurisdiction="VN", language="vi"))  # the deprecated field
    resident = await file(stack, {**request_body(language="vi"), "residence": "VN"})
    eu = await file(stack, request_body(jurisdiction="EU", language="en"))

    for opened in (vn, resident, eu):
        days = (datetime.fromisoformat(opened["due_at"]) - datetime.fromisoformat(opened["received_at"])).days
        assert 9 <= days <= 10, opened["deadline_basis"]  # KR: 10 days, to the end of the local day
        assert opened["jurisdiction"] == "KR"
    assert vn["laws"] == resident["laws"] == ["KR", "VN"] and vn["residence"] == "VN"
    assert vn["acknowledge_by"] is not None and resident["acknowledge_by"] is not None
    assert "clinic's law (Korea)" in vn["deadline_basis"] and "2 working days" in vn["deadline_basis"]
    assert eu["laws"] == ["KR", "EU"] and eu["acknowledge_by"] is None


async def test_the_token_protects_the_requesters_view(stack):
    mine = await file(stack, request_body())
    other = await file(stack, request_body(name="이영희"))

    own = await stack.dsr.get(f"/v1/requests/{mine['request_id']}", headers=auth(mine["token"]))
    wrong = await stack.dsr.get(f"/v1/requests/{mine['request_id']}", headers=auth(other["token"]))
    none = await stack.dsr.get(f"/v1/requests/{mine['request_id']}")
    system = await stack.dsr.get(f"/v1/requests/{mine['request_id']}", headers=SYSTEM)
    staff = await stack.dsr.get(f"/v1/requests/{mine['request_id']}", headers=STAFF)

    assert own.status_code == 200 and own.json()["subject"]["name"] == "김민수"
    assert wrong.status_code == 403
    assert none.status_code == 401
    assert system.status_code == 403
    assert staff.status_code == 200
    assert "token" not in own.json()


async def test_a_childs_own_request_waits_for_a_guardian_and_nothing_happens_until_then(stack):
    child = await file(stack, request_body(name="Trần Minh An", birth_date="2016-05-05", subject_id="patient-2002"))

    assert child["status"] == "received"
    assert child["child_own_request"] is True
    assert child["waiting_for"] == ["guardian"]
    early = await stack.dsr.post(f"/v1/requests/{child['request_id']}/verification",
                                 json={"method": "sms", "evidence_ref": "x", "representative_checked": True},
                                 headers=STAFF)
    assert early.status_code == 409

    joined = await stack.dsr.post(f"/v1/requests/{child['request_id']}/guardian", headers=auth(child["token"]),
                                  json={"name": "Nguyễn Thị Lan", "contact": "lan@example.com",
                                        "relationship_detail": "mother"})
    assert joined.status_code == 200, joined.text
    assert joined.json()["status"] == "verifying"
    assert joined.json()["waiting_for"] == ["identity_verification", "proof_of_guardianship"]
    no_proof = await stack.dsr.post(f"/v1/requests/{child['request_id']}/verification",
                                    json={"method": "sms", "evidence_ref": "x"}, headers=STAFF)
    assert no_proof.status_code == 422
    verified = await verify(stack, child["request_id"], representative=True)
    assert verified["status"] == "in_review"


async def test_an_agent_needs_a_power_of_attorney(stack):
    opened = await file(stack, request_body(relationship="agent", requester_name="Lee & Partners", subject_id="p-9"))

    wrong = await stack.dsr.post(f"/v1/requests/{opened['request_id']}/verification",
                                 json={"method": "email", "evidence_ref": "x", "representative_checked": True},
                                 headers=STAFF)
    right = await stack.dsr.post(f"/v1/requests/{opened['request_id']}/verification",
                                 json={"method": "power_of_attorney", "evidence_ref": "POA-77", "representative_checked": True},
                                 headers=STAFF)

    assert wrong.status_code == 422
    assert right.status_code == 200


async def test_an_agent_cannot_file_for_a_child(stack):
    response = await stack.dsr.post("/v1/requests", json=child_request(relationship="agent"))
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "requester.relationship"


async def test_the_subject_must_be_identified_before_review(stack):
    opened = await file(stack, request_body())  # no subject_id given
    missing = await stack.dsr.post(f"/v1/requests/{opened['request_id']}/verification",
                                   json={"method": "in_person", "evidence_ref": "ID-1"}, headers=STAFF)
    assert missing.status_code == 422
    verified = await verify(stack, opened["request_id"], subject_id="patient-3003")
    assert verified["subject_id"] == "patient-3003"


async def test_a_rejection_states_the_legal_ground_and_how_to_object_and_an_objection_reopens_it(stack):
    opened = await file(stack, request_body(subject_id="patient-obj", language="en"))
    await verify(stack, opened["request_id"])
    no_ground = await stack.dsr.post(f"/v1/requests/{opened['request_id']}/decision",
                                     json={"decision": "reject", "legal_ground": "PIPA 35(4)1"}, headers=MANAGER)
    assert no_ground.status_code == 422 and "ground is required" in no_ground.json()["detail"]
    rejected = await stack.dsr.post(f"/v1/requests/{opened['request_id']}/decision", headers=MANAGER,
                                    json={"decision": "reject", "ground": "kr-access-law",
                                          "legal_ground": "the records are under a court order"})
    assert rejected.json()["status"] == "rejected"
    assert "objection" in rejected.json()["how_to_object"]

    objection = await file(stack, request_body(type="objection", subject_id="patient-obj", language="en",
                                               details={"objects_to": opened["reference"]}))
    assert objection["objects_to"] == opened["reference"]
    await verify(stack, objection["request_id"])
    await approve(stack, objection["request_id"])

    original = (await stack.dsr.get(f"/v1/requests/{opened['request_id']}", headers=STAFF)).json()
    assert original["status"] == "in_review"
    assert original["transitions"][-1]["actor"] == f"objection:{objection['reference']}"


async def test_only_a_refusal_can_be_objected_to(stack):
    opened = await file(stack, request_body())
    response = await stack.dsr.post("/v1/requests", json=request_body(type="objection",
                                                                       details={"objects_to": opened["reference"]}))
    assert response.status_code == 422


async def test_roles_on_the_workflow(stack):
    opened = await file(stack, request_body(subject_id="patient-roles"))
    staff_decides = await stack.dsr.post(f"/v1/requests/{opened['request_id']}/decision",
                                         json={"decision": "approve"}, headers=STAFF)
    requester_verifies = await stack.dsr.post(f"/v1/requests/{opened['request_id']}/verification",
                                              json={"method": "sms", "evidence_ref": "x"}, headers=auth(opened["token"]))
    queue_without_key = await stack.dsr.get("/v1/requests")

    assert staff_decides.status_code == 403
    assert requester_verifies.status_code == 401
    assert queue_without_key.status_code == 401


async def test_the_deadline_is_extended_once_with_a_reason(stack):
    opened = await file(stack, request_body(subject_id="patient-ext"))
    first = await stack.dsr.post(f"/v1/requests/{opened['request_id']}/extension", headers=MANAGER,
                                 json={"ground": "kr-ext-retrieval", "reason": "records are archived off-site"})
    second = await stack.dsr.post(f"/v1/requests/{opened['request_id']}/extension",
                                  json={"ground": "kr-ext-other", "reason": "again"}, headers=MANAGER)

    assert first.status_code == 200
    extended = first.json()
    days = (datetime.fromisoformat(extended["due_at"]) - datetime.fromisoformat(extended["original_due_at"])).days
    assert days == 10 and extended["extension_reason"] == "records are archived off-site"
    assert second.status_code == 409
    seen = (await stack.dsr.get(f"/v1/requests/{opened['request_id']}", headers=auth(opened["token"]))).json()
    assert seen["extension_reason"] == "records are archived off-site"  # the requester is told


async def test_the_requester_can_withdraw_an_open_request(stack):
    opened = await file(stack, request_body())
    response = await stack.dsr.post(f"/v1/requests/{opened['request_id']}/withdraw", json={"reason": "solved"},
                                    headers=auth(opened["token"]))
    assert response.json()["status"] == "withdrawn"
    again = await stack.dsr.post(f"/v1/requests/{opened['request_id']}/withdraw", headers=auth(opened["token"]))
    assert again.status_code == 409


async def test_the_queue_filters_by_status_type_guardian_and_overdue(stack):
    adult = await file(stack, request_body(type="erasure"))
    child = await file(stack, child_request())

    everything = (await stack.dsr.get("/v1/requests", headers=STAFF)).json()
    guardians = (await stack.dsr.get("/v1/requests?guardian=true", headers=STAFF)).json()
    erasures = (await stack.dsr.get("/v1/requests?type=erasure&status=verifying", headers=STAFF)).json()
    overdue = (await stack.dsr.get("/v1/requests?overdue=true", headers=STAFF)).json()

    assert {r["reference"] for r in everything} == {adult["reference"], child["reference"]}
    assert [r["reference"] for r in guardians] == [child["reference"]]
    assert [r["reference"] for r in erasures] == [adult["reference"]]
    assert overdue == []


async def test_invalid_requests_name_the_field(stack):
    body = request_body(type="rectification")  # no corrections
    response = await stack.dsr.post("/v1/requests", json=body)
    assert response.status_code == 422
    assert "corrections" in response.json()["detail"]
    future = request_body(birth_date="2999-01-01")
    assert (await stack.dsr.post("/v1/requests", json=future)).status_code == 422
    phone = {**request_body(), "channel": "phone"}
    assert (await stack.dsr.post("/v1/requests", json=phone)).status_code == 422  # staff only
    assert (await stack.dsr.post("/v1/requests", json=phone, headers=STAFF)).status_code == 201


async def test_public_intake_is_rate_limited_per_address(stack):
    stack.dsr_app.state.intake_limiter.per_minute = 3
    codes = [(await stack.dsr.post("/v1/requests", json=request_body())).status_code for _ in range(4)]
    staff = await stack.dsr.post("/v1/requests", json=request_body(), headers=STAFF)
    assert codes == [201, 201, 201, 429]
    assert staff.status_code == 201


async def test_personal_data_of_requests_is_stored_encrypted(stack):
    await file(stack, child_request())
    async with stack.pool.acquire() as conn:
        dump = await conn.fetchval("SELECT string_agg(t::text, ' ') FROM requests t")
    assert "Nguyễn" not in dump and "Trần" not in dump and "2016-05-05" not in dump and "lan@example.com" not in dump


async def test_unknown_requests_are_404(stack):
    assert (await stack.dsr.get("/v1/requests/nope", headers=STAFF)).status_code == 404
    assert (await stack.dsr.get(f"/v1/requests/{random_id()}", headers=STAFF)).status_code == 404


async def test_the_filing_reply_is_the_request_as_stored(stack):
    """The reply is built from what the filing wrote, without reading it back: it must be what a
    later read of the request shows, for a request that goes on to verification and for a child's
    own request that waits for a guardian."""
    for body in (request_body(), request_body(name="Trần Minh An", birth_date="2016-05-05")):
        opened = await file(stack, body)
        token = opened.pop("token")
        read = await stack.dsr.get(f"/v1/requests/{opened['request_id']}", headers=auth(token))
        assert read.status_code == 200
        assert opened == read.json()
    assert [t["to_status"] for t in opened["transitions"]] == ["received"]


async def test_a_taken_reference_is_drawn_again_and_writes_nothing(stack, monkeypatch):
    from services.dsr import domain

    first = await file(stack, request_body())
    drawn = iter([first["reference"], first["reference"], "DSR-2026-NEW22"])
    monkeypatch.setattr(domain, "new_reference", lambda now: next(drawn))

    second = await file(stack, request_body(name="이영희"))

    assert second["reference"] == "DSR-2026-NEW22"
    assert [t["to_status"] for t in second["transitions"]] == ["received", "verifying"]
    again = await stack.dsr.get(f"/v1/requests/{first['request_id']}", headers=STAFF)
    assert [t["to_status"] for t in again.json()["transitions"]] == ["received", "verifying"]
    async with stack.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM requests") == 2
        assert await conn.fetchval("SELECT count(*) FROM transitions") == 4


async def test_a_birth_date_written_as_a_number_is_refused(stack):
    """pydantic read 86400 as 1970-01-02; a birth date is YYYY-MM-DD text (shared/dates.py)."""
    for number in (86400, "86400"):
        body = request_body()
        body["subject"]["birth_date"] = number
        response = await stack.dsr.post("/v1/requests", json=body)
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["field"] == "subject.birth_date"
        assert "YYYY-MM-DD" in response.json()["errors"][0]["message"]
