"""The provision log: what a law made the clinic provide to a third party without consent, recorded
by staff, append-only, and read by the person in their access report in their language."""

from __future__ import annotations

import asyncpg
import pytest

from tests.dsr.factories import approve, auth, file, request_body, verify
from tests.support import MANAGER, STAFF, SYSTEM, eventually

WARRANT = {"subject_id": "patient-1001", "ground": "kr-warrant", "data_categories": ["name", "health"],
           "reference": "Seoul Central District Court warrant 2026-1234", "provided_at": "2026-03-04T10:30:00+09:00"}


async def _status(stack, request_id: str, *statuses: str):
    body = (await stack.dsr.get(f"/v1/requests/{request_id}", headers=STAFF)).json()
    return body if body["status"] in statuses else None


async def test_a_provision_by_law_is_logged_and_the_access_report_tells_the_person(stack, clinic):
    await clinic()
    recorded = await stack.dsr.post("/v1/provisions", headers=STAFF, json=WARRANT)
    assert recorded.status_code == 201, recorded.text
    body = recorded.json()
    assert body["recorded_by"] == "staff:dev-staff" and body["citation"].startswith("Medical Service Act Art. 21(3)")
    claims = {**WARRANT, "ground": "kr-hira-claims", "data_categories": ["health"], "reference": None,
              "provided_at": "2026-02-01T09:00:00+09:00"}
    assert (await stack.dsr.post("/v1/provisions", headers=MANAGER, json=claims)).status_code == 201
    other = {**WARRANT, "subject_id": "patient-3003"}
    assert (await stack.dsr.post("/v1/provisions", headers=STAFF, json=other)).status_code == 201

    log = (await stack.dsr.get("/v1/provisions", params={"subject_id": "patient-1001"}, headers=MANAGER)).json()
    assert [p["ground"] for p in log] == ["kr-warrant", "kr-hira-claims"]  # newest first
    since = (await stack.dsr.get("/v1/provisions", params={"since": "2026-03-01T00:00:00+09:00"},
                                 headers=STAFF)).json()
    assert {p["subject_id"] for p in since} == {"patient-1001", "patient-3003"} and len(since) == 2

    # The person's access report says, in Vietnamese, who received what and under which law.
    opened = await file(stack, request_body(subject_id="patient-1001", language="vi"))
    await verify(stack, opened["request_id"])
    await approve(stack, opened["request_id"])
    await eventually(lambda: _status(stack, opened["request_id"], "completed"), timeout=30)
    report = (await stack.dsr.get(f"/v1/requests/{opened['request_id']}/result", headers=auth(opened["token"]))).json()
    provided = report["provided_by_law"]
    assert [p["id"] for p in provided] == ["kr-warrant", "kr-hira-claims"]
    assert provided[0]["recipient"] == "Cơ quan điều tra (theo lệnh do tòa án ban hành)"
    assert "Luật Tố tụng Hình sự" in provided[0]["text"] and provided[0]["data_categories"] == ["name", "health"]
    assert "Criminal Procedure Act" in provided[0]["citation"]
    assert all(p["id"] != "kr-warrant" or "2026-1234" not in str(p) for p in provided)  # the warrant stays with staff


async def test_the_log_is_append_only(stack):
    assert (await stack.dsr.post("/v1/provisions", headers=STAFF, json=WARRANT)).status_code == 201
    async with stack.pool.acquire() as conn:
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await conn.execute("UPDATE provisions SET ground = 'kr-hira-claims'")
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await conn.execute("DELETE FROM provisions")


@pytest.mark.parametrize("change, field", [
    ({"ground": "because-they-asked"}, "ground"),
    ({"data_categories": []}, "data_categories"),
    ({"data_categories": ["health", "health"]}, "data_categories"),
    ({"data_categories": ["x-rays"]}, "data_categories"),
    ({"provided_at": "2999-01-01T00:00:00+09:00"}, "provided_at"),
    ({"provided_at": "yesterday"}, "provided_at"),
    ({"subject_id": ""}, "subject_id"),
])
async def test_a_bad_provision_is_a_422_naming_the_field(stack, change, field):
    response = await stack.dsr.post("/v1/provisions", headers=STAFF, json={**WARRANT, **change})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert field in response.text


async def test_a_clinic_system_neither_records_nor_reads_the_log(stack):
    assert (await stack.dsr.post("/v1/provisions", headers=SYSTEM, json=WARRANT)).status_code == 403
    assert (await stack.dsr.get("/v1/provisions", headers=SYSTEM)).status_code == 403
