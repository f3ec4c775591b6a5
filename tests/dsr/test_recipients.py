"""The registry of recipients (issue 20, item 5): on what basis each system outside the clinic
receives its data, and a processor's entrusted duty and contract term; declared by the privacy
manager, kept across a system's own updates, and told in the access report."""

from __future__ import annotations

from tests.dsr.factories import approve, auth, file, request_body, system_key, verify
from tests.support import MANAGER, STAFF, eventually

AGENCY = {"system_id": "agency", "name": "Lee Jeong-bae (entrusted)", "data_categories": ["email", "contact"],
          "retention_classes": ["marketing"], "processor": True, "source": "agency/crm",
          "purposes": ["marketing_email"], "legal_basis": "contract",
          "entrusted_duty": "membership management, advertisement delivery", "contract_from": "2026-01-01"}


async def _status(stack, request_id: str, *statuses: str):
    body = (await stack.dsr.get(f"/v1/requests/{request_id}", headers=STAFF)).json()
    return body if body["status"] in statuses else None


async def test_a_processors_duty_and_term_are_kept_across_its_own_updates_and_told_in_the_access_report(stack):
    created = await stack.dsr.post("/v1/systems", json=AGENCY, headers=MANAGER)
    assert created.status_code == 201, created.text
    assert created.json()["entrusted_duty"] == AGENCY["entrusted_duty"] and created.json()["contract_until"] is None

    # The processor re-registers itself (as systems do at start), leaving the declarations out: kept.
    key = await system_key(stack, "agency")
    own = {k: v for k, v in AGENCY.items() if k not in ("legal_basis", "entrusted_duty", "contract_from")}
    updated = await stack.dsr.post("/v1/systems", json={**own, "description": "v2"}, headers=key)
    assert updated.status_code == 200, updated.text
    assert updated.json()["entrusted_duty"] == AGENCY["entrusted_duty"] and updated.json()["legal_basis"] == "contract"
    # ... but it cannot change them.
    changed = await stack.dsr.post("/v1/systems", json={**own, "entrusted_duty": "anything we like"}, headers=key)
    assert changed.status_code == 403 and "entrusted_duty" in changed.text

    opened = await file(stack, request_body(subject_id="patient-1001", language="en"))
    await verify(stack, opened["request_id"])
    await approve(stack, opened["request_id"])
    task = (await stack.dsr.get(f"/v1/requests/{opened['request_id']}", headers=STAFF)).json()["tasks"][0]
    answered = await stack.dsr.post(f"/v1/tasks/{task['task_id']}/result", headers=key, json={
        "task_id": task["task_id"], "request_id": opened["request_id"], "system_id": "agency",
        "subject_id": "patient-1001", "outcome": "no_data"})
    assert answered.status_code == 200, answered.text
    await eventually(lambda: _status(stack, opened["request_id"], "completed"), timeout=30)
    report = (await stack.dsr.get(f"/v1/requests/{opened['request_id']}/result", headers=auth(opened["token"]))).json()
    [agency] = report["processors"]
    assert agency["name"] == AGENCY["name"] and agency["entrusted_duty"] == AGENCY["entrusted_duty"]
    assert agency["contract_from"] == "2026-01-01" and agency["contract_until"] is None


async def test_a_basis_that_does_not_hold_together_is_a_422(stack):
    for change, field in (({"legal_basis": "law"}, "legal_citation"),
                          ({"legal_basis": "consent"}, "legal_basis"),
                          ({"processor": False, "legal_basis": None}, "entrusted_duty"),
                          ({"contract_until": "2025-12-31"}, "contract_until")):
        response = await stack.dsr.post("/v1/systems", json={**AGENCY, **change}, headers=MANAGER)
        assert response.status_code == 422 and field in response.text, (change, response.text)
    by_law = {**AGENCY, "system_id": "hira", "name": "HIRA", "source": None, "processor": False, "purposes": [],
              "entrusted_duty": None, "contract_from": None, "legal_basis": "law",
              "legal_citation": "National Health Insurance Act Art. 47"}
    assert (await stack.dsr.post("/v1/systems", json=by_law, headers=MANAGER)).status_code == 201


async def test_a_system_registers_the_words_of_what_it_writes_and_keeps_them_across_updates(stack):
    """Issue 21: its name and the recipients it names reach people in their language."""
    words = {"Lee Jeong-bae (entrusted)": {"ko": "이정배(수탁자)", "vi": "Lee Jeong-bae (bên được ủy thác)"}}
    created = await stack.dsr.post("/v1/systems", json={**AGENCY, "translations": words}, headers=MANAGER)
    assert created.status_code == 201, created.text
    assert created.json()["translations"] == words
    updated = await stack.dsr.post("/v1/systems", json={**AGENCY, "description": "v2"}, headers=MANAGER)
    assert updated.json()["translations"] == words  # left out: kept
    async with stack.pool.acquire() as conn:
        said = await stack.service.system_words(conn)
    assert said("ko", "Lee Jeong-bae (entrusted)") == "이정배(수탁자)" and said("en", "Lee Jeong-bae (entrusted)") == \
        "Lee Jeong-bae (entrusted)"
    bad = await stack.dsr.post("/v1/systems", json={**AGENCY, "translations": {"x": {"fr": "y"}}}, headers=MANAGER)
    assert bad.status_code == 422 and "translations" in bad.text
