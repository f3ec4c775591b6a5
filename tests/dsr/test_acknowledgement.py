"""Vietnam's acknowledgement (within 2 working days): recorded once by staff or the notifier,
audited, alerted once when its date passes; what staff need from the requester; the requester's
contact, for the notifier's key alone."""

from __future__ import annotations

import json
from datetime import timedelta

from tests.dsr.factories import auth, file, request_body
from tests.support import MANAGER, STAFF, read_to_end

NOTIFIER = {"Authorization": "Bearer dev-notifier"}


def _events(records, request_id: str, event_type: str) -> list[dict]:
    found = []
    for record in records:
        event = json.loads(record.value)
        if event["type"] == event_type and event["data"]["request_id"] == request_id:
            found.append(event["data"])
    return found


async def test_staff_acknowledge_once_and_it_is_audited_and_published(stack):
    opened = await file(stack, request_body(jurisdiction="VN", language="vi"))
    rid = opened["request_id"]
    assert opened["acknowledge_by"] is not None and opened["acknowledged_at"] is None

    first = await stack.dsr.post(f"/v1/requests/{rid}/acknowledgement", json={}, headers=STAFF)
    assert first.status_code == 200, first.text
    assert first.json()["acknowledged_via"] == "staff"
    again = await stack.dsr.post(f"/v1/requests/{rid}/acknowledgement", json={}, headers=MANAGER)
    assert again.status_code == 200 and again.json()["acknowledged_at"] == first.json()["acknowledged_at"]
    trail = [t for t in again.json()["transitions"] if (t["reason"] or "").startswith("acknowledged")]
    assert len(trail) == 1 and trail[0]["actor"] == "staff:dev-staff"
    assert trail[0]["from_status"] == trail[0]["to_status"] == "verifying"

    # Only the notifier says it told the requester by email or SMS.
    refused = await stack.dsr.post(f"/v1/requests/{rid}/acknowledgement", json={"via": "email"}, headers=STAFF)
    assert refused.status_code == 403
    # A request under Korean law alone owes no acknowledgement.
    korean = await file(stack, request_body())
    assert korean["acknowledge_by"] is None
    none = await stack.dsr.post(f"/v1/requests/{korean['request_id']}/acknowledgement", json={}, headers=STAFF)
    assert none.status_code == 409

    await stack.scheduler_passes(1)
    published = _events(await read_to_end(stack.bootstrap, "dsr.events"), rid, "request.acknowledged")
    assert len(published) == 1 and published[0]["acknowledged_via"] == "staff"


async def test_an_acknowledgement_not_made_by_its_date_is_alerted_once(stack):
    late = await file(stack, request_body(jurisdiction="VN", language="vi"))
    made = await file(stack, request_body(jurisdiction="VN", language="en"))
    by_notifier = await stack.dsr.post(f"/v1/requests/{made['request_id']}/acknowledgement",
                                       json={"via": "email"}, headers=NOTIFIER)
    assert by_notifier.status_code == 200 and by_notifier.json()["acknowledged_via"] == "email"
    assert any(t["actor"] == "notifier:dev-notifier" for t in by_notifier.json()["transitions"])

    stack.travel(timedelta(days=5))  # past the 2 working days, before the 10-day deadline
    await stack.scheduler_passes(2)
    await stack.scheduler_passes(1)
    records = await read_to_end(stack.bootstrap, "dsr.events")
    overdue = _events(records, late["request_id"], "request.acknowledgement_overdue")
    assert len(overdue) == 1 and overdue[0]["acknowledge_by"]
    assert not _events(records, made["request_id"], "request.acknowledgement_overdue")

    # Acknowledged late: recorded, and said to be late in the audit trail.
    after = await stack.dsr.post(f"/v1/requests/{late['request_id']}/acknowledgement", json={}, headers=STAFF)
    assert any("after its due date" in (t["reason"] or "") for t in after.json()["transitions"])


async def test_staff_ask_the_requester_for_more_by_code(stack):
    opened = await file(stack, request_body(relationship="legal_representative", language="vi"))
    rid = opened["request_id"]
    asked = await stack.dsr.post(f"/v1/requests/{rid}/needs", json={"needed": "proof_of_representation"},
                                 headers=STAFF)
    assert asked.status_code == 200, asked.text
    assert any(t["reason"] == "asked the requester for: Proof of legal representation" for t in asked.json()["transitions"])
    wrong = await stack.dsr.post(f"/v1/requests/{rid}/needs", json={"needed": "a kidney"}, headers=STAFF)
    assert wrong.status_code == 422
    free_text = await stack.dsr.post(f"/v1/requests/{rid}/needs",
                                     json={"needed": "clarification", "note": "call me"}, headers=STAFF)
    assert free_text.status_code == 422
    await stack.scheduler_passes(1)
    needed = _events(await read_to_end(stack.bootstrap, "dsr.events"), rid, "request.information_needed")
    assert [n["needed"] for n in needed] == ["proof_of_representation"]


async def test_the_requester_contact_goes_to_the_notifier_alone(stack):
    by_email = await file(stack, request_body(contact="minsu@example.com"))
    by_phone = await file(stack, request_body(contact="010-1234-5678", language="en"))
    by_post = await file(stack, request_body(contact="12 Sejong-daero, Seoul"))
    url = "/v1/requests/{}/requester-contact"
    for headers in (STAFF, MANAGER, {"Authorization": "Bearer dev-dsr"}):
        refused = await stack.dsr.post(url.format(by_email["request_id"]), headers=headers)
        assert refused.status_code == 403, refused.text
    # The requester's token opens their request, not this: it is no API key.
    assert (await stack.dsr.post(url.format(by_email["request_id"]), headers=auth(by_email["token"]))).status_code == 401

    email = await stack.dsr.post(url.format(by_email["request_id"]), headers=NOTIFIER)
    assert email.status_code == 200 and email.headers["cache-control"] == "no-store"
    assert email.json() == {"channel": "email", "address": "minsu@example.com", "language": "ko",
                            "link": f"http://127.0.0.1:8002/portal/r/{by_email['request_id']}#t={by_email['token']}"}
    phone = (await stack.dsr.post(url.format(by_phone["request_id"]), headers=NOTIFIER)).json()
    assert (phone["channel"], phone["address"], phone["language"]) == ("sms", "010-1234-5678", "en")
    post = (await stack.dsr.post(url.format(by_post["request_id"]), headers=NOTIFIER)).json()
    assert (post["channel"], post["address"]) == ("none", None)

    # Once the record is destroyed there is no one to tell: 410.
    async with stack.pool.acquire() as conn:
        req = await stack.service.load(conn, by_email["request_id"])
        await stack.service.destroy_record(conn, req)
    gone = await stack.dsr.post(url.format(by_email["request_id"]), headers=NOTIFIER)
    assert gone.status_code == 410 and gone.headers["content-type"].startswith("application/problem+json")
