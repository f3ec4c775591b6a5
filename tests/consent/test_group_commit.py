"""POST /v1/consent-events under concurrency: calls that arrive together share a transaction
(services/consent/grouping.py), and each still gets exactly its own answer."""

from __future__ import annotations

import asyncio

from tests.consent.conftest import ConsentHarness
from tests.support import STAFF, SYSTEM, consent_event


async def _post(consent: ConsentHarness, event: dict):
    return await consent.client.post("/v1/consent-events", json=event, headers=SYSTEM)


async def test_concurrent_calls_each_get_their_own_answer_in_shared_transactions(consent, policy, monkeypatch):
    recording = consent.service.recording
    groups: list[int] = []
    record_many = recording.record_many

    async def counting(conn, envelopes, *, via):
        groups.append(len(envelopes))
        return await record_many(conn, envelopes, via=via)

    monkeypatch.setattr(recording, "record_many", counting)
    subject = "group-1"
    good = [consent_event(subject_id=f"group-{i}", purpose="marketing_email") for i in range(40)]
    # Three events of one subject in one group: chained in the order they were sent.
    chained = [consent_event(subject_id=subject, purpose=p) for p in ("marketing_sms", "model_photos", "treatment")]
    replay = dict(good[0])  # the same event twice at once: one 201, one 200 with the same record
    conflict = {**good[1], "data": {**good[1]["data"], "purpose": "marketing_sms"}}  # same id, other content
    unknown = consent_event(subject_id="group-x", purpose="no_such_purpose")
    child = consent_event(subject_id="group-child", birth_date="2020-05-01")  # under 14 acting alone
    bodies = good + chained + [replay, conflict, unknown, child]
    responses = await asyncio.gather(*(_post(consent, b) for b in bodies))

    assert max(groups) > 1, groups  # calls were recorded together
    by_status = [r.status_code for r in responses]
    first, again = responses[0], responses[len(good) + 3]
    assert {first.status_code, again.status_code} == {200, 201}
    assert first.json()["record_id"] == again.json()["record_id"]
    assert responses[len(good) + 5].status_code == 422
    assert "purpose" in responses[len(good) + 5].text
    assert responses[len(good) + 6].status_code == 422
    assert by_status[2:len(good) + 3] == [201] * (len(good) + 1)
    for body, response in zip(good[2:] + chained, responses[2:len(good) + 3], strict=True):
        assert response.json()["event_id"] == body["id"]
        assert response.json()["subject_id"] == body["data"]["subject_id"]
    # The conflicting twin of good[1] lost or won its race, but exactly one of them is recorded.
    assert sorted([responses[1].status_code, responses[len(good) + 4].status_code]) == [201, 409]

    # Each answer's record is the committed one, with its personal fields opened.
    record = first.json()
    assert record["evidence"] == good[0]["data"]["evidence"] and record["subject_birth_date"] == "1990-04-01"
    history = (await consent.client.get(f"/v1/subjects/{subject}/consents/history", headers=STAFF)).json()
    assert [r["sequence"] for r in history["records"]] == list(range(1, len(history["records"]) + 1))
    verified = (await consent.client.get(f"/v1/subjects/{subject}/consents/verify", headers=STAFF)).json()
    assert verified["valid"], verified
    async with consent.pool.acquire() as conn:
        recorded = await conn.fetchval("SELECT count(*) FROM consent_records WHERE received_via = 'http'")
    assert recorded == len(good) + len(chained)  # nothing of the refused ones, the replay once


async def test_an_event_that_breaks_its_group_is_recorded_alone_and_the_others_still_are(consent, policy, monkeypatch):
    """A failure that is not a refusal (here: a bug, simulated) fails the shared transaction; every
    event of the group is then recorded alone, so only the broken one fails."""
    recording = consent.service.recording
    record_many = recording.record_many
    poisoned = consent_event(subject_id="group-poison")

    async def fragile(conn, envelopes, *, via):
        if any(e.id == poisoned["id"] for e in envelopes):
            raise RuntimeError("simulated bug")
        return await record_many(conn, envelopes, via=via)

    monkeypatch.setattr(recording, "record_many", fragile)
    others = [consent_event(subject_id=f"group-ok-{i}") for i in range(12)]
    responses = await asyncio.gather(*(_post(consent, b) for b in [*others, poisoned]), return_exceptions=True)
    assert [r.status_code for r in responses[:-1]] == [201] * len(others)
    # The in-process transport re-raises what the app answered with a 500.
    assert isinstance(responses[-1], RuntimeError) or responses[-1].status_code == 500
    async with consent.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM consent_records WHERE subject_id = 'group-poison'") == 0
        assert await conn.fetchval("SELECT count(*) FROM consent_records WHERE subject_id LIKE 'group-ok-%'") == 12
