"""Refusals and extensions on a legal ground from the list, in time or with the reason they are late;
the remedies a refused person is told of; objecting to an extension; complaints the privacy manager
answers."""

from __future__ import annotations

from datetime import datetime, timedelta

from tests.dsr.factories import approve, auth, file, request_body, verify
from tests.support import MANAGER, STAFF


async def _verified(stack, **body) -> dict:
    opened = await file(stack, request_body(**body))
    await verify(stack, opened["request_id"], subject_id=body.get("subject_id") or "patient-grounds")
    return opened


async def _post(stack, opened: dict, action: str, body: dict, headers=MANAGER):
    return await stack.dsr.post(f"/v1/requests/{opened['request_id']}/{action}", json=body, headers=headers)


async def test_a_refusal_needs_a_ground_its_law_gives_for_that_type_of_request(stack):
    opened = await _verified(stack, type="erasure", language="vi")

    unknown = await _post(stack, opened, "decision", {"decision": "reject", "ground": "because"})
    other_type = await _post(stack, opened, "decision", {"decision": "reject", "ground": "kr-access-law"})
    other_law = await _post(stack, opened, "decision", {"decision": "reject", "ground": "eu-erasure-legal-claims"})
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "ground"
    for refused in (other_type, other_law):
        assert refused.status_code == 422, refused.text
        assert refused.json()["errors"][0]["field"] == "ground"
        assert "kr-erasure-kept-by-law" in refused.json()["detail"]  # the grounds it could give

    rejected = await _post(stack, opened, "decision", {"decision": "reject", "ground": "kr-erasure-kept-by-law",
                                                       "legal_ground": "hồ sơ bệnh án năm 2024"})
    assert rejected.status_code == 200, rejected.text
    seen = (await stack.dsr.get(f"/v1/requests/{opened['request_id']}", headers=auth(opened["token"]))).json()
    assert seen["ground"] == {"id": "kr-erasure-kept-by-law", "law": "KR", "citation": "PIPA Art. 36(1) proviso",
                              "text": seen["ground"]["text"]}
    assert "Luật khác quy định" in seen["ground"]["text"]  # in the requester's language
    assert seen["legal_ground"] == "hồ sơ bệnh án năm 2024"
    assert "phản đối" in seen["how_to_object"]
    result = (await stack.dsr.get(f"/v1/requests/{opened['request_id']}/result", headers=auth(opened["token"]))).json()
    contacts = {r["id"]: r for r in result["remedies"]}
    assert contacts["kr-mediation"]["phone"] == "1833-6972" and contacts["kr-kisa"]["phone"] == "118"
    assert {"kr-prosecutors", "kr-police"} <= set(contacts)
    assert contacts["kr-mediation"]["name"] == "Ủy ban Hòa giải Tranh chấp Thông tin Cá nhân"
    assert result["ground"]["id"] == "kr-erasure-kept-by-law"
    audit = seen["transitions"][-1]
    assert audit["actor"] == "privacy_manager:dev-manager" and audit["said"]["codes"]["ground"] == ["ground", "kr-erasure-kept-by-law"]


async def test_a_residents_own_law_adds_its_remedies_to_a_refusal(stack):
    opened = await file(stack, {**request_body(language="en"), "residence": "VN"})
    await verify(stack, opened["request_id"], subject_id="patient-vn")
    rejected = await _post(stack, opened, "decision", {"decision": "reject", "ground": "kr-access-others"})
    assert [r["id"] for r in rejected.json()["remedies"]][-1] == "vn-a05"  # the clinic's law's first


async def test_an_extension_needs_a_ground_of_the_clinics_law(stack):
    opened = await file(stack, request_body(subject_id="patient-ext-ground", language="ko"))
    reason_only = await _post(stack, opened, "extension", {"reason": "records are archived off-site"})
    vietnamese = await _post(stack, opened, "extension", {"ground": "vn-ext-time-needed", "reason": "x"})
    assert reason_only.status_code == 422 and reason_only.json()["errors"][0]["field"] == "ground"
    assert vietnamese.status_code == 422 and "kr-ext-retrieval" in vietnamese.json()["detail"]

    extended = await _post(stack, opened, "extension", {"ground": "kr-ext-third-party", "reason": "가족 정보 분리"})
    assert extended.status_code == 200, extended.text
    seen = (await stack.dsr.get(f"/v1/requests/{opened['request_id']}", headers=auth(opened["token"]))).json()
    assert seen["extension_ground"]["citation"] == "PIPA Enforcement Decree Art. 41(4)"
    assert seen["extension_ground"]["text"].startswith("정당한 사유")
    assert seen["extension_reason"] == "가족 정보 분리"
    assert "이의신청" in seen["how_to_object"]  # an extension can be objected to


async def test_after_the_deadline_an_extension_or_a_refusal_needs_the_reason_it_is_late(stack):
    late_ext = await file(stack, request_body(subject_id="patient-late-1"))
    late_refusal = await _verified(stack, subject_id="patient-late-2")
    stack.travel(timedelta(days=11))

    refused_ext = await _post(stack, late_ext, "extension", {"ground": "kr-ext-volume", "reason": "many records"})
    refused_refusal = await _post(stack, late_refusal, "decision", {"decision": "reject", "ground": "kr-access-law"})
    for refused in (refused_ext, refused_refusal):
        assert refused.status_code == 409, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["errors"] == [{"field": "late_reason", "message": "required after the deadline"}]

    extended = await _post(stack, late_ext, "extension", {"ground": "kr-ext-volume", "reason": "many records",
                                                          "late_reason": "the EMR was down for a week"})
    rejected = await _post(stack, late_refusal, "decision", {"decision": "reject", "ground": "kr-access-law",
                                                             "late_reason": "the privacy manager was away"})
    assert extended.status_code == 200 and rejected.status_code == 200
    due = datetime.fromisoformat(extended.json()["due_at"])
    assert due == datetime.fromisoformat(extended.json()["original_due_at"]) + timedelta(days=10)
    ext_audit = extended.json()["transitions"][-1]
    assert "late because: the EMR was down for a week" in ext_audit["reason"]
    assert ext_audit["said"]["values"]["reason"]["codes"]["ground"] == ["ground", "kr-ext-volume"]
    assert "late because: the privacy manager was away" in rejected.json()["transitions"][-1]["reason"]


async def test_an_upheld_objection_to_an_extension_brings_the_original_deadline_back(stack):
    opened = await file(stack, request_body(subject_id="patient-obj-ext", language="en"))
    extended = (await _post(stack, opened, "extension", {"ground": "kr-ext-retrieval", "reason": "archive"})).json()
    assert extended["due_at"] != extended["original_due_at"]

    objection = await file(stack, request_body(type="objection", subject_id="patient-obj-ext", language="en",
                                               details={"objects_to": opened["reference"]}))
    await verify(stack, objection["request_id"])
    await approve(stack, objection["request_id"])

    after = (await stack.dsr.get(f"/v1/requests/{opened['request_id']}", headers=auth(opened["token"]))).json()
    assert after["due_at"] == after["original_due_at"] and after["extension_withdrawn_at"] is not None
    assert after["how_to_object"] is None  # nothing left to object to
    assert after["transitions"][-1]["actor"] == f"objection:{objection['reference']}"
    again = await _post(stack, opened, "extension", {"ground": "kr-ext-other", "reason": "again"})
    assert again.status_code == 409  # the one extension stays used


async def test_a_complaint_is_filed_answered_by_the_privacy_manager_and_audited(stack):
    missing = await stack.dsr.post("/v1/requests", json=request_body(type="complaint"))
    assert missing.status_code == 422 and "details.complaint" in missing.json()["detail"]
    opened = await file(stack, request_body(type="complaint", language="en", subject_id="patient-cmp", details={
        "complaint": "I keep getting marketing texts after I withdrew my consent."}))
    assert opened["type"] == "complaint" and opened["tasks"] == []
    await verify(stack, opened["request_id"])
    waiting = (await stack.dsr.get(f"/v1/requests/{opened['request_id']}", headers=STAFF)).json()
    assert waiting["waiting_for"] == ["answer"]

    approved = await _post(stack, opened, "decision", {"decision": "approve"})
    by_staff = await _post(stack, opened, "answer", {"answer": "x"}, headers=STAFF)
    not_a_complaint = await _post(stack, await _verified(stack, subject_id="patient-cmp-2"), "answer", {"answer": "x"})
    assert approved.status_code == 409 and "/answer" in approved.json()["detail"]
    assert by_staff.status_code == 403
    assert not_a_complaint.status_code == 409

    text = "We found a second list at our SMS agency and removed you from it on 3 March."
    answered = await _post(stack, opened, "answer", {"answer": text})
    assert answered.status_code == 200, answered.text
    body = answered.json()
    assert body["status"] == "completed" and body["answer"] == text and body["tasks"] == []
    assert body["transitions"][-1]["actor"] == "privacy_manager:dev-manager"
    assert "complaint answered" in body["transitions"][-1]["reason"] and text not in body["transitions"][-1]["reason"]
    result = (await stack.dsr.get(f"/v1/requests/{opened['request_id']}/result", headers=auth(opened["token"]))).json()
    assert result["answer"] == text and result["answered_at"]
    assert {r["id"] for r in result["remedies"]} >= {"kr-mediation", "kr-kisa"}
    again = await _post(stack, opened, "answer", {"answer": "again"})
    assert again.status_code == 409
    async with stack.pool.acquire() as conn:  # the answer and the complaint are sealed with the request
        dump = await conn.fetchval("SELECT string_agg(t::text, ' ') FROM requests t")
        dump += await conn.fetchval("SELECT string_agg(t::text, ' ') FROM transitions t")
    assert "SMS agency" not in dump and "marketing texts" not in dump
    queue = (await stack.dsr.get("/v1/requests?type=complaint", headers=STAFF)).json()
    assert [r["reference"] for r in queue] == [opened["reference"]]


async def test_the_legal_grounds_of_the_clinics_law_are_listed(stack):
    listed = await stack.dsr.get("/v1/legal-grounds", headers=STAFF)
    assert listed.status_code == 200
    body = listed.json()
    assert body["law"] == "KR"
    refusals = {g["id"]: g for g in body["refusals"]}
    assert refusals["kr-access-others"]["types"] == ["access"] and set(refusals["kr-access-others"]["texts"]) == {
        "ko", "en", "vi"}
    assert all(g["id"].startswith("kr-") for g in body["refusals"] + body["extensions"])
    assert {r["phone"] for r in body["remedies"]} >= {"1833-6972", "118"}
