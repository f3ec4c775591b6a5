"""Commands of the request service on dsr.events: approved erasures and consent-withdrawal requests."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.support import (
    MANAGER,
    STAFF,
    SYSTEM,
    consent_event,
    consume,
    eventually,
    guardian,
    policy_body,
    processed_to_end,
    produce,
    read_to_end,
    structured,
)


def dsr_command(type: str, subject: str, data: dict[str, Any], *, event_id: str | None = None) -> dict[str, Any]:
    return {"specversion": "1.0", "id": event_id or str(uuid.uuid4()), "source": "dongui/dsr", "type": type,
            "subject": subject, "datacontenttype": "application/json", "data": {"subject_id": subject, **data}}


def erasure(subject: str, request_id: str, **extra) -> dict[str, Any]:
    data = {"request_id": request_id, "approved_at": datetime.now(UTC).isoformat(), **extra}
    return dsr_command("subject.erasure.approved", subject, data)


def withdrawal_request(subject: str, purposes: list[str] | None, *, request_id: str = "req-w1",
                       actor_role: str = "self", method: str = "email",
                       requested_at: datetime | None = None) -> dict[str, Any]:
    data = {"request_id": request_id, "purposes": purposes, "actor_role": actor_role, "method": method,
            "requested_at": (requested_at or datetime.now(UTC)).isoformat()}
    return dsr_command("subject.consent_withdrawal.requested", subject, data)


async def record(consent, **kwargs) -> dict[str, Any]:
    response = await consent.client.post("/v1/consent-events", json=consent_event(**kwargs), headers=SYSTEM)
    assert response.status_code == 201, response.text
    return response.json()


async def permission(consent, subject: str, purpose: str) -> tuple[bool, str]:
    body = (await consent.client.get(f"/v1/subjects/{subject}/permissions/{purpose}", headers=SYSTEM)).json()
    return body["allowed"], body["reason"]


async def reason_is(consent, subject: str, purpose: str, reason: str) -> bool:
    return (await permission(consent, subject, purpose))[1] == reason


async def history(consent, subject: str) -> list[dict[str, Any]]:
    response = await consent.client.get(f"/v1/subjects/{subject}/consents/history", headers=STAFF)
    return response.json()["records"]


async def verify(consent, subject: str) -> dict[str, Any]:
    return (await consent.client.get(f"/v1/subjects/{subject}/consents/verify", headers=STAFF)).json()


async def erasure_rows(consent, subject: str) -> list[dict[str, Any]]:
    async with consent.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT * FROM erasures WHERE subject_id = $1 ORDER BY recorded_at, request_id", subject
        )
    return [dict(r) for r in rows]


async def holds_of(consent, subject: str) -> list[str]:
    body = (await consent.client.get(f"/v1/subjects/{subject}/consents", headers=STAFF)).json()
    return [h["hold_id"] for h in body["holds"]]


def hold_placed(subject: str, hold_id: str) -> dict[str, Any]:
    """A hold as a marker: sent after a message, on the same key, it is handled after it."""
    return dsr_command("subject.hold.placed", subject, {"hold_id": hold_id, "request_id": "req-marker",
                                                        "reason": "restriction",
                                                        "placed_at": datetime.now(UTC).isoformat()})


# --- erasure -------------------------------------------------------------------------------------


async def test_an_approved_erasure_destroys_the_key_and_keeps_the_deidentified_ledger(
    consent, policy, kafka_bootstrap
):
    subject = "erase-me"
    await record(consent, subject_id=subject, purpose="marketing_email", birth_date="1990-04-01")
    await record(consent, subject_id=subject, purpose="marketing_sms", birth_date="1990-04-01")
    await record(consent, subject_id=subject, purpose="cookies_analytics", type="consent.declined")
    before = await history(consent, subject)
    assert before[0]["evidence"] == {"form_id": "signup-v3", "ip": "203.0.113.7"}

    await produce(kafka_bootstrap, "dsr.events", [structured(erasure(subject, "req-erase-1"))])

    await eventually(lambda: reason_is(consent, subject, "marketing_email", "erased"))
    # The person asked for their data to be erased: no consent-based use, whatever was decided.
    assert await permission(consent, subject, "marketing_email") == (False, "erased")
    assert await permission(consent, subject, "cookies_analytics") == (False, "erased")
    assert await permission(consent, subject, "model_photos") == (False, "erased")
    assert await permission(consent, subject, "treatment") == (True, "legal_basis")

    after = await history(consent, subject)
    assert len(after) == 3
    for old, new in zip(before, after, strict=True):
        assert new["evidence"] is None and new["subject_birth_date"] is None
        assert new["actor"] == {"role": "self", "name": None, "relationship": None, "contact": None}
        # The de-identified ledger stays as evidence that consent existed.
        for field in ("record_id", "purpose", "decision", "policy_version", "occurred_at", "record_hash", "prev_hash"):
            assert new[field] == old[field]
    chain = await verify(consent, subject)
    assert chain["valid"] is True and chain["records"] == 3

    current = (await consent.client.get(f"/v1/subjects/{subject}/consents", headers=STAFF)).json()
    assert current["erased_at"] is not None
    assert {p["purpose"]: (p["decision"], p["reason"]) for p in current["purposes"]} == {
        "marketing_email": ("granted", "erased"),
        "marketing_sms": ("granted", "erased"),
        "cookies_analytics": ("declined", "erased"),
    }

    [row] = await erasure_rows(consent, subject)
    assert row["request_id"] == "req-erase-1" and row["had_key"] is True
    async with consent.pool.acquire() as conn:
        key = await conn.fetchrow("SELECT wrapped_key, destroyed_at FROM subject_keys WHERE subject_id = $1", subject)
    assert key["wrapped_key"] is None
    assert row["destroyed_at"] == key["destroyed_at"]
    assert datetime.fromisoformat(current["erased_at"]) == key["destroyed_at"]

    # A new grant for the same subject id is refused: nothing can be sealed for them any more.
    again = await consent.client.post(
        "/v1/consent-events", json=consent_event(subject_id=subject, purpose="model_photos"), headers=SYSTEM
    )
    assert again.status_code == 422
    assert "destroyed" in again.json()["detail"]
    assert len(await history(consent, subject)) == 3


async def test_a_redelivered_erasure_is_harmless(consent, policy, kafka_bootstrap):
    subject = "erase-twice"
    await record(consent, subject_id=subject, purpose="marketing_email")
    command = erasure(subject, "req-erase-2")
    await produce(kafka_bootstrap, "dsr.events", [structured(command)])
    await eventually(lambda: reason_is(consent, subject, "marketing_email", "erased"))
    [first] = await erasure_rows(consent, subject)

    second = erasure(subject, "req-erase-3")  # another approved request for the same person
    never_seen = erasure("erase-never-seen", "req-erase-4")
    await produce(kafka_bootstrap, "dsr.events", [
        structured(command),  # redelivered
        structured(withdrawal_request(subject, None)),  # nothing left to withdraw
        structured(second),
        structured(never_seen),
    ])

    rows = await eventually(lambda: _rows_if(consent, subject, 2))
    assert [(r["request_id"], r["had_key"]) for r in rows] == [("req-erase-2", True), ("req-erase-3", False)]
    assert rows[0] == first
    assert rows[1]["destroyed_at"] == first["destroyed_at"]  # the key was destroyed once, by the first
    [unknown] = await eventually(lambda: _rows_if(consent, "erase-never-seen", 1))
    assert unknown["had_key"] is False

    assert len(await history(consent, subject)) == 1
    assert (await verify(consent, subject))["valid"] is True
    await processed_to_end(kafka_bootstrap, "dongui-consent-dsr-events", "dsr.events")
    assert await read_to_end(kafka_bootstrap, "privacy.dead-letter") == []
    # Erasing someone never seen still refuses anything sealed for them later.
    refused = await consent.client.post(
        "/v1/consent-events", json=consent_event(subject_id="erase-never-seen"), headers=SYSTEM
    )
    assert refused.status_code == 422


async def _rows_if(consent, subject: str, count: int):
    rows = await erasure_rows(consent, subject)
    return rows if len(rows) >= count else None


async def test_an_erasure_whose_envelope_names_another_subject_is_refused_and_destroys_nothing(
    consent, policy, kafka_bootstrap
):
    victim = "erase-not-me"
    await record(consent, subject_id=victim)
    wrong = erasure(victim, "req-erase-5")
    wrong["subject"] = "someone-else"
    late = withdrawal_request(victim, ["marketing_email"], requested_at=datetime.now(UTC) + timedelta(days=1))
    broken = erasure(victim, "req-erase-6")
    del broken["data"]["approved_at"]
    marker = hold_placed(victim, "hold-after-bad-commands")

    await produce(kafka_bootstrap, "dsr.events", [structured(wrong), structured(late), structured(broken),
                                                 structured(marker)])

    await eventually(lambda: _has_hold(consent, victim, "hold-after-bad-commands"))
    dead = await consume(kafka_bootstrap, "privacy.dead-letter", count=3)
    reasons = sorted(dict(m.headers)["dongui-dlq-reason"].decode() for m in dead)
    assert any("is not data.subject_id" in r for r in reasons)
    assert any("in the future" in r for r in reasons)
    assert any("approved_at" in r for r in reasons)
    assert await erasure_rows(consent, victim) == []
    [grant] = await history(consent, victim)
    assert grant["evidence"] is not None  # the key is intact
    assert await permission(consent, victim, "marketing_email") == (False, "hold")


async def _has_hold(consent, subject: str, hold_id: str) -> bool:
    return hold_id in await holds_of(consent, subject)


# --- consent-withdrawal requests -------------------------------------------------------------------


async def test_a_withdrawal_request_withdraws_each_granted_purpose_under_the_policy_it_was_granted_under(
    consent, policy, kafka_bootstrap, caplog
):
    caplog.set_level(logging.INFO, logger="services.consent.commands")
    later = (datetime.now(UTC) + timedelta(days=8)).isoformat()
    v2 = await consent.client.post("/v1/policies", json=policy_body(version="2", effective_at=later), headers=MANAGER)
    assert v2.status_code == 201, v2.text
    subject = "withdraw-some"
    await record(consent, subject_id=subject, purpose="marketing_email", policy_version="1", language="ko")
    await record(consent, subject_id=subject, purpose="marketing_sms", policy_version="2", language="vi")
    await record(consent, subject_id=subject, purpose="cookies_analytics", type="consent.declined")
    await record(consent, subject_id=subject, purpose="membership")
    requested_at = datetime.now(UTC)
    command = withdrawal_request(
        subject, ["marketing_email", "marketing_sms", "cookies_analytics", "model_photos", "selling_data"],
        request_id="req-w-some", method="email", requested_at=requested_at,
    )

    await produce(kafka_bootstrap, "dsr.events", [structured(command)])

    await eventually(lambda: reason_is(consent, subject, "marketing_sms", "withdrawn"))
    assert await permission(consent, subject, "marketing_email") == (False, "withdrawn")
    assert await permission(consent, subject, "cookies_analytics") == (False, "declined")  # left alone
    assert await permission(consent, subject, "model_photos") == (False, "never_asked")  # left alone
    assert await permission(consent, subject, "membership") == (True, "granted")  # not asked for

    records = await history(consent, subject)
    assert len(records) == 6
    withdrawals = {r["purpose"]: r for r in records if r["decision"] == "withdrawn"}
    assert set(withdrawals) == {"marketing_email", "marketing_sms"}
    expected = {"marketing_email": ("1", "ko"), "marketing_sms": ("2", "vi")}
    for purpose, r in withdrawals.items():
        assert (r["policy_version"], r["language"]) == expected[purpose]
        assert r["event_id"] == f"{command['id']}:{purpose}"
        assert r["source"] == "dongui/dsr" and r["received_via"] == "kafka"
        assert r["method"] == "email" and r["actor"]["role"] == "self"
        assert r["evidence"] == {"request_id": "req-w-some"}
        assert datetime.fromisoformat(r["occurred_at"]) == requested_at
    assert (await verify(consent, subject))["valid"] is True

    published = await consume(kafka_bootstrap, "consent.events", count=8)  # 2 policies, 4 + 2 records
    bodies = [json.loads(m.value) for m in published if m.key == subject.encode()]
    withdrawn = {b["data"]["purpose"]: b for b in bodies if b["type"] == "consent.withdrawn"}
    assert set(withdrawn) == {"marketing_email", "marketing_sms"}
    assert withdrawn["marketing_sms"]["data"]["policy_version"] == "2"
    assert withdrawn["marketing_email"]["data"]["source_event_id"] == f"{command['id']}:marketing_email"
    assert withdrawn["marketing_email"]["data"]["record_id"] == withdrawals["marketing_email"]["record_id"]
    await processed_to_end(kafka_bootstrap, "dongui-consent-dsr-events", "dsr.events")
    assert await read_to_end(kafka_bootstrap, "privacy.dead-letter") == []  # the unknown purpose is skipped...
    assert "unknown purpose 'selling_data' skipped" in caplog.text  # ...with a log line


async def test_withdrawing_every_purpose_and_a_redelivered_command_records_nothing_new(
    consent, policy, kafka_bootstrap
):
    subject = "withdraw-all"
    for purpose in ("marketing_email", "marketing_sms", "membership"):
        await record(consent, subject_id=subject, purpose=purpose)
    await record(consent, subject_id=subject, purpose="cookies_analytics", type="consent.declined")
    command = withdrawal_request(subject, None, request_id="req-w-all")

    await produce(kafka_bootstrap, "dsr.events", [structured(command)])

    await eventually(lambda: _withdrawn_count(consent, subject, 3))
    for purpose in ("marketing_email", "marketing_sms", "membership"):
        assert await permission(consent, subject, purpose) == (False, "withdrawn")
    assert await permission(consent, subject, "cookies_analytics") == (False, "declined")
    recorded = await history(consent, subject)
    assert len(recorded) == 7

    # Redelivered: skipped by its claim...
    await produce(kafka_bootstrap, "dsr.events", [structured(command), structured(hold_placed(subject, "marker-1"))])
    await eventually(lambda: _has_hold(consent, subject, "marker-1"))
    assert await history(consent, subject) == recorded
    # ...and even without the claim, nothing granted is left under those event ids.
    async with consent.pool.acquire() as conn:
        assert await conn.execute("DELETE FROM processed_events WHERE event_id = $1", command["id"]) == "DELETE 1"
    await produce(kafka_bootstrap, "dsr.events", [structured(command), structured(hold_placed(subject, "marker-2"))])
    await eventually(lambda: _has_hold(consent, subject, "marker-2"))
    assert await history(consent, subject) == recorded
    assert (await verify(consent, subject))["valid"] is True

    messages = await consume(kafka_bootstrap, "consent.events", count=8)  # the policy and 7 records
    assert sum(1 for m in messages if json.loads(m.value)["type"] == "consent.withdrawn") == 3


async def _withdrawn_count(consent, subject: str, count: int) -> bool:
    return sum(r["decision"] == "withdrawn" for r in await history(consent, subject)) >= count


async def test_a_guardian_withdraws_for_a_child_and_a_grant_awaiting_joint_consent_is_withdrawn_too(
    consent, policy, kafka_bootstrap
):
    child = "child-withdraw"
    for purpose in ("marketing_email", "sensitive_health"):
        await record(consent, subject_id=child, purpose=purpose, birth_date="2016-05-05", actor=guardian(),
                     language="vi")
    vn_child = "vn-child-withdraw"  # aged 7 to 15 in Vietnam: their own grant waits for the guardian's
    await record(consent, subject_id=vn_child, purpose="marketing_email", birth_date="2015-01-01",
                 jurisdiction="VN", language="vi")
    assert await permission(consent, vn_child, "marketing_email") == (False, "awaiting_joint_consent")

    await produce(kafka_bootstrap, "dsr.events", [
        structured(withdrawal_request(child, None, request_id="req-w-child", actor_role="legal_representative",
                                      method="paper")),
        structured(withdrawal_request(vn_child, ["marketing_email"], request_id="req-w-vn",
                                      actor_role="legal_representative", method="paper")),
    ])

    await eventually(lambda: _withdrawn_count(consent, child, 2))
    await eventually(lambda: reason_is(consent, vn_child, "marketing_email", "withdrawn"))
    withdrawals = [r for r in await history(consent, child) if r["decision"] == "withdrawn"]
    assert {r["purpose"] for r in withdrawals} == {"marketing_email", "sensitive_health"}
    for r in withdrawals:
        assert r["actor"]["role"] == "legal_representative"
        assert r["actor"]["name"] == "verified by the request service"
        assert r["evidence"] == {"request_id": "req-w-child"}
        assert r["method"] == "paper" and r["language"] == "vi"
    [vn] = [r for r in await history(consent, vn_child) if r["decision"] == "withdrawn"]
    assert vn["actor"]["role"] == "legal_representative" and vn["jurisdiction"] == "VN"

    messages = await consume(kafka_bootstrap, "consent.events", count=7)  # the policy, 3 grants, 3 withdrawals
    roles = [json.loads(m.value)["data"]["actor_role"] for m in messages
             if m.key == child.encode() and json.loads(m.value)["type"] == "consent.withdrawn"]
    assert roles == ["legal_representative", "legal_representative"]
