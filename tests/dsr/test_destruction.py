"""Data that must go, goes (issue 20, items 2 and 3): a withdrawal destroys what only that consent
justified in every system holding it, processors included, keeping what the medical record or
another consent still covers, cited; each system's confirmation is logged as evidence; a
destruction not confirmed within 5 days is overdue and the privacy manager is told; the log
exports as CSV."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta

from tests.dsr.factories import approved_request, register_system, system_key
from tests.support import MANAGER, STAFF, SYSTEM, consent_event, eventually, read_to_end


async def _consent(stack, subject: str, purpose: str, type_: str = "consent.granted") -> None:
    response = await stack.consent.post("/v1/consent-events", headers=SYSTEM,
                                        json=consent_event(type=type_, subject_id=subject, purpose=purpose))
    assert response.status_code == 201, response.text


async def _log(stack, **params) -> list[dict]:
    response = await stack.dsr.get("/v1/destructions", params=params, headers=MANAGER)
    assert response.status_code == 200, response.text
    return response.json()


async def _rows(stack, subject: str, count: int) -> list[dict] | None:
    rows = await _log(stack, subject_id=subject)
    return rows if len(rows) >= count else None


async def _events(stack, topic: str, type_: str) -> list[dict]:
    return [e for e in (json.loads(m.value) for m in await read_to_end(stack.bootstrap, topic)) if e["type"] == type_]


async def _photo_systems(stack) -> None:
    # The outside studio that takes the model photos for the clinic (a processor), and the EMR
    # that keeps clinical photos in the medical record.
    await register_system(stack, system_id="photo-studio", name="Photo studio (processor)", categories=["photos"],
                          classes=["marketing"], processor=True)
    await register_system(stack, system_id="emr", name="Medical records", categories=["name", "contact", "photos",
                          "treatment_records"], classes=["medical_record"])
    await register_system(stack, system_id="pharmacy", name="Pharmacy", categories=["prescriptions"],
                          classes=["prescription"])


async def test_withdrawn_model_photos_go_from_every_holding_system_and_the_medical_record_stays(stack):
    await _photo_systems(stack)
    await _consent(stack, "patient-photo", "model_photos")
    await _consent(stack, "patient-photo", "model_photos", "consent.withdrawn")

    rows = await eventually(lambda: _rows(stack, "patient-photo", 2))
    assert {r["system_id"] for r in rows} == {"photo-studio", "emr"}  # the pharmacy holds none of it
    row = rows[0]
    assert row["reference"].startswith("DST-") and row["trigger"] == "consent_withdrawal"
    assert row["purposes"] == ["model_photos"] and row["categories"] == ["photos"]
    assert row["classes"] == ["marketing"]  # no other marketing consent is in force
    kept = {k["category"]: k for k in row["kept"] if k.get("category")}
    assert set(kept) == {"name", "contact"}  # the medical record still holds them
    assert kept["name"]["because"] == "treatment" and "Medical Service Act" in kept["name"]["citation"]
    assert row["rule"] == "Clinic policy: until consent is withdrawn"
    assert all(r["status"] == "waiting" for r in rows)
    assert datetime.fromisoformat(row["due_at"]) - datetime.fromisoformat(row["created_at"]) == timedelta(days=5)

    tasks = {t["data"]["system_id"]: t["data"] for t in await _events(stack, "dsr.tasks", "dsr.task.destroy")}
    assert set(tasks) == {"photo-studio", "emr"}
    assert tasks["emr"]["retain_classes"] == ["medical_record"] and tasks["photo-studio"]["retain_classes"] == []
    # What the EMR keeps of it, it keeps only because the Medical Service Act says so: apart, for that purpose.
    assert tasks["emr"]["restrict_to_legal_purpose"] == [
        {"retention_class": "medical_record", "citation": "Medical Service Act Art. 22, Enforcement Rule 15 (10 years)"}]
    assert tasks["emr"]["reference"] == row["reference"] and tasks["emr"]["request_id"] == row["destruction_id"]

    # Each system confirms on its own key; the confirmation is the evidence.
    studio, emr = await system_key(stack, "photo-studio"), await system_key(stack, "emr")
    done = {"task_id": tasks["photo-studio"]["task_id"], "request_id": row["destruction_id"],
            "system_id": "photo-studio", "subject_id": "patient-photo", "outcome": "done", "erased": ["photos"]}
    kept_by_law = {"task_id": tasks["emr"]["task_id"], "request_id": row["destruction_id"], "system_id": "emr",
                   "subject_id": "patient-photo", "outcome": "partially_done",
                   "retained": [{"category": "photos", "retention_class": "medical_record", "until": "2036-03-15"}],
                   "note": "Clinical photos are part of the medical record."}
    wrong = await stack.dsr.post(f"/v1/tasks/{done['task_id']}/result", headers=studio,
                                 json={**done, "subject_id": "patient-other"})
    assert wrong.status_code == 422 and "subject_id" in wrong.text
    first = await stack.dsr.post(f"/v1/tasks/{done['task_id']}/result", headers=studio, json=done)
    again = await stack.dsr.post(f"/v1/tasks/{done['task_id']}/result", headers=studio, json=done)
    assert first.json()["recorded"] is True and again.json()["recorded"] is False
    assert (await stack.dsr.post(f"/v1/tasks/{kept_by_law['task_id']}/result", headers=emr,
                                 json=kept_by_law)).status_code == 200

    rows = {r["system_id"]: r for r in await _log(stack, subject_id="patient-photo")}
    assert rows["photo-studio"]["status"] == "confirmed" and rows["photo-studio"]["destroyed"] == ["photos"]
    assert rows["emr"]["outcome"] == "partially_done"
    assert rows["emr"]["retained"] == [{"category": "photos", "retention_class": "medical_record",
                                        "until": "2036-03-15"}]
    assert rows["emr"]["closed_at"] is not None and rows["emr"]["confirmed_at"] is not None
    confirmed = await eventually(lambda: _at_least(stack, "data.destroyed", 2))
    assert {e["data"]["system_id"] for e in confirmed} == {"photo-studio", "emr"}
    assert all("patient-photo" == e["data"]["subject_id"] and "name" not in json.dumps(e["data"]["erased"])
               for e in confirmed)

    # For an inspection: the same log as CSV, with what was kept and why.
    exported = await stack.dsr.get("/v1/destructions", params={"subject_id": "patient-photo"},
                                   headers={**MANAGER, "Accept": "text/csv"})
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(exported.text)))
    assert {r["system_id"]: r["status"] for r in table} == {"photo-studio": "confirmed", "emr": "confirmed"}
    assert "name: treatment (Medical Service Act" in table[0]["kept"]
    assert table[0]["reference"] == row["reference"] and table[0]["rule"] == row["rule"]

    # The log is the privacy manager's.
    assert (await stack.dsr.get("/v1/destructions", headers=STAFF)).status_code == 403
    assert (await stack.dsr.get("/v1/destructions", params={"since": "yesterday"}, headers=MANAGER)).status_code == 422


async def _at_least(stack, type_: str, count: int) -> list[dict] | None:
    events = await _events(stack, "dsr.events", type_)
    return events if len(events) >= count else None


async def test_an_unconfirmed_destruction_is_chased_then_overdue_after_five_days_and_told_once(stack):
    await _photo_systems(stack)
    await _consent(stack, "patient-late", "model_photos")
    await _consent(stack, "patient-late", "model_photos", "consent.withdrawn")
    await eventually(lambda: _rows(stack, "patient-late", 2))

    stack.travel(timedelta(days=2, minutes=1))  # a task's answer is 2 days late: sent again
    await eventually(lambda: _resent(stack, 2))
    stack.travel(timedelta(days=5, minutes=2))  # past the destruction's 5 days
    await eventually(lambda: _at_least(stack, "data.destruction_overdue", 1))
    await stack.scheduler_passes(2)  # more passes could have told it again
    overdue = await _events(stack, "dsr.events", "data.destruction_overdue")
    assert len(overdue) == 1
    assert sorted(overdue[0]["data"]["outstanding"]) == ["emr", "photo-studio"]
    assert "patient-late" not in json.dumps({k: v for k, v in overdue[0]["data"].items() if k != "subject_id"})
    rows = await _log(stack, subject_id="patient-late")
    assert {r["status"] for r in rows} == {"overdue"} and all(r["overdue_at"] for r in rows)

    # The privacy manager settles it: the studio is retired (its task closed with the reason), the
    # EMR's task closed by hand; the log keeps who and why, and the destruction is closed.
    retired = await stack.dsr.post("/v1/systems/photo-studio/retire", headers=MANAGER,
                                   json={"reason": "contract ended; the studio certified destruction in writing"})
    assert retired.status_code == 200, retired.text
    emr_task = next(r for r in rows if r["system_id"] == "emr")
    tasks = {t["data"]["system_id"]: t["data"]["task_id"] for t in await _events(stack, "dsr.tasks", "dsr.task.destroy")}
    closed = await stack.dsr.post(f"/v1/tasks/{tasks['emr']}/close", headers=MANAGER,
                                  json={"reason": "deleted by the EMR vendor on site"})
    assert closed.status_code == 200, closed.text
    assert (await stack.dsr.post(f"/v1/tasks/{tasks['emr']}/close", headers=MANAGER,
                                 json={"reason": "again"})).status_code == 409
    rows = {r["system_id"]: r for r in await _log(stack, subject_id="patient-late")}
    assert {r["status"] for r in rows.values()} == {"closed_by_hand"} and rows["emr"]["closed_at"]
    assert "certified destruction in writing" in rows["photo-studio"]["note"]
    assert emr_task["destruction_id"] == rows["emr"]["destruction_id"]


async def _resent(stack, attempt: int) -> bool:
    tasks = await _events(stack, "dsr.tasks", "dsr.task.destroy")
    return sum(t["data"]["attempt"] == attempt for t in tasks) >= 2


async def test_a_withdrawal_another_consent_still_covers_destroys_only_what_is_left(stack):
    await register_system(stack, system_id="crm", name="Marketing list", categories=["email", "mobile_phone"],
                          classes=["marketing"], processor=True)
    await _consent(stack, "patient-both", "marketing_email")
    await _consent(stack, "patient-both", "marketing_sms")
    await _consent(stack, "patient-both", "marketing_sms", "consent.withdrawn")

    [row] = await eventually(lambda: _rows(stack, "patient-both", 1))
    assert row["categories"] == ["mobile_phone"] and row["classes"] == []
    assert {"category": None, "retention_class": "marketing", "because": "marketing_email",
            "citation": "Clinic policy: until consent is withdrawn"} in row["kept"]
    assert row["system_id"] == "crm" and row["processor"] is True

    # The same withdrawal redelivered, and a grant, destroy nothing more.
    await _consent(stack, "patient-both", "marketing_night")
    await stack.scheduler_passes(2)
    assert len(await _log(stack, subject_id="patient-both")) == 1


async def test_a_withdrawal_nobody_holds_data_for_is_logged_as_such(stack):
    await _consent(stack, "patient-none", "model_photos")
    await _consent(stack, "patient-none", "model_photos", "consent.withdrawn")
    [row] = await eventually(lambda: _rows(stack, "patient-none", 1))
    assert row["system_id"] is None and row["status"] == "nothing_held" and row["closed_at"] is not None


async def test_a_visit_logs_three_months_end_and_it_goes_from_each_holding_system(stack):
    """The retention clock (issue 20, item 1): a system reports the latest access log of a subject;
    when its 3 months end, every system holding access logs is told to destroy them."""
    await register_system(stack, system_id="website", name="Website", categories=["access_logs", "login_id"],
                          classes=["access_log", "membership"])
    await register_system(stack, system_id="analytics", name="Analytics (processor)", categories=["access_logs"],
                          classes=["access_log"], processor=True)
    website = await system_key(stack, "website")
    today = stack.service.clock().astimezone(stack.service.zone).date()

    # The clock counts from the latest record; an older one changes nothing; a class the system did
    # not register, or one without a period, is refused by name.
    for day in (today - timedelta(days=10), today, today - timedelta(days=40)):
        reported = await stack.dsr.post("/v1/subjects/patient-visits/records", headers=website,
                                        json={"records": [{"retention_class": "access_log",
                                                           "recorded_on": day.isoformat()}]})
        assert reported.status_code == 200, reported.text
    [clock] = reported.json()["clocks"]
    assert clock["starts_on"] == today.isoformat() and clock["ends_on"] > (today + timedelta(days=88)).isoformat()
    assert "Protection of Communications Secrets Act" in clock["citation"] and clock["expired_at"] is None
    for bad, named in (({"retention_class": "medical_record", "recorded_on": today.isoformat()}, "medical_record"),
                       ({"retention_class": "marketing", "recorded_on": today.isoformat()}, "until consent"),
                       ({"retention_class": "access_log", "recorded_on": (today + timedelta(days=2)).isoformat()},
                        "after today")):
        refused = await stack.dsr.post("/v1/subjects/patient-visits/records", headers=website, json={"records": [bad]})
        assert refused.status_code == 422 and named in refused.text, refused.text
    assert (await stack.dsr.post("/v1/subjects/patient-visits/records", headers=MANAGER,
                                 json={"records": [{"retention_class": "access_log",
                                                    "recorded_on": today.isoformat()}]})).status_code == 403

    stack.travel(timedelta(days=60))
    await stack.scheduler_passes(2)
    assert await _log(stack, subject_id="patient-visits") == []  # still within its 3 months

    stack.travel(timedelta(days=33))
    rows = await eventually(lambda: _rows(stack, "patient-visits", 2))
    assert {r["system_id"] for r in rows} == {"website", "analytics"}
    assert all(r["trigger"] == "retention_expired" and r["classes"] == ["access_log"] and r["purposes"] == []
               for r in rows)
    expired = await eventually(lambda: _at_least(stack, "retention.expired", 1))
    assert sorted(expired[0]["data"]["systems"]) == ["analytics", "website"]
    tasks = {t["data"]["system_id"]: t["data"] for t in await _events(stack, "dsr.tasks", "dsr.task.destroy")}
    answer = {"task_id": tasks["website"]["task_id"], "request_id": rows[0]["destruction_id"], "system_id": "website",
              "subject_id": "patient-visits", "outcome": "done", "erased": ["access_logs"]}
    assert (await stack.dsr.post(f"/v1/tasks/{answer['task_id']}/result", headers=website, json=answer)).status_code == 200
    logged = {r["system_id"]: r["status"] for r in await _log(stack, subject_id="patient-visits")}
    assert logged == {"website": "confirmed", "analytics": "waiting"}

    # Acted on once; a later visit starts the clock again.
    await stack.scheduler_passes(2)
    assert len(await _log(stack, subject_id="patient-visits")) == 2


async def test_the_example_systems_report_what_they_hold_and_destroy_what_outlived_its_period(stack, clinic):
    """The example systems report each subject's records by class; what is past its period goes."""
    await clinic(report=True)
    # patient-3003 was last seen in 2019: the roster and the X-ray (5 years) are past their period,
    # the medical record (10 years) is not.
    rows = await eventually(lambda: _confirmed(stack, "patient-3003", {"patient_roster", "radiology"}), timeout=30)
    by_class = {r["classes"][0]: r for r in rows}
    assert by_class["radiology"]["destroyed"] == ["radiology"]
    assert by_class["patient_roster"]["destroyed"] == ["name", "contact"]
    clocks = await _log(stack, subject_id="patient-3003")
    assert not any("medical_record" in r["classes"] for r in clocks)


async def _confirmed(stack, subject: str, classes: set[str]) -> list[dict] | None:
    rows = [r for r in await _log(stack, subject_id=subject)
            if r["trigger"] == "retention_expired" and r["status"] == "confirmed" and r["system_id"] == "emr"]
    return rows if {r["classes"][0] for r in rows} >= classes else None


async def test_a_closed_requests_record_is_kept_only_by_law_and_staff_no_longer_read_its_personal_part(stack):
    """Item 4: the product's own copy of what only a law keeps (a closed request is a complaint
    record, 3 years) is marked, and its personal part read by the privacy manager and the requester
    only."""
    opened, approved = await approved_request(stack, subject_id="patient-closed")
    assert approved["status"] == "completed" and approved["kept_by_law"]["withheld"] is False
    path = f"/v1/requests/{opened['request_id']}"

    staff = (await stack.dsr.get(path, headers=STAFF)).json()
    assert staff["status"] == "completed" and staff["requester"] is None and staff["subject"] is None
    assert staff["kept_by_law"]["withheld"] is True and staff["kept_by_law"]["retention_class"] == "complaint_record"
    assert staff["kept_by_law"]["until"][:4] == str(int(staff["closed_at"][:4]) + 3)
    refused = await stack.dsr.get(f"{path}/result", headers=STAFF)
    assert refused.status_code == 403 and "privacy manager" in refused.json()["detail"]

    manager = (await stack.dsr.get(path, headers=MANAGER)).json()
    assert manager["requester"]["contact"] and manager["kept_by_law"]["withheld"] is False
    assert (await stack.dsr.get(f"{path}/result", headers=MANAGER)).status_code == 200
    own = await stack.dsr.get(path, headers={"Authorization": f"Bearer {opened['token']}"})
    assert own.json()["requester"] == manager["requester"]
