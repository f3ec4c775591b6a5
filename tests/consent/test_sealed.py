"""Personal fields sealed with the subject's transit key, over HTTP and Kafka (shared/sealing.py)."""

from __future__ import annotations

import base64
import os

from joserfc import jwe
from joserfc.jwk import OctKey

from shared.sealing import decode_key, seal
from tests.consent.test_dsr_commands import erasure, history
from tests.support import STAFF, SYSTEM, consent_event, drain, eventually, guardian, produce, random_id, structured

PERSONAL = ("subject_birth_date", "actor", "evidence")
#: Past every JSON reader's recursion, within what joserfc opens (about 64 kB).
DEEP = b"[" * 20_000 + b"]" * 20_000


async def transit_key(consent, subject: str) -> bytes:
    response = await consent.client.post(f"/v1/subjects/{subject}/transit-key", headers=SYSTEM)
    assert response.status_code == 200, response.text
    jwk = response.json()
    assert jwk["kty"] == "oct" and jwk["kid"] == subject and (jwk["alg"], jwk["enc"]) == ("dir", "A256GCM")
    assert response.headers["cache-control"] == "no-store"
    return decode_key(jwk["k"])


def sealed_event(event: dict, key: bytes) -> dict:
    data = event["data"]
    hidden = {name: data.pop(name) for name in PERSONAL if name in data}
    data["sealed"] = seal(hidden, key, kid=data["subject_id"])
    return event


async def test_a_sealed_event_is_recorded_like_a_clear_one_and_is_the_same_event_when_sealed_again(consent, policy):
    subject = random_id()
    key = await transit_key(consent, subject)
    assert await transit_key(consent, subject) == key  # one key per subject, issued once
    event = consent_event(subject_id=subject, actor=guardian(), birth_date="2016-05-05", purpose="treatment")

    first = await consent.client.post("/v1/consent-events", json=sealed_event(dict(event, data=dict(event["data"])), key),
                                      headers=SYSTEM)
    assert first.status_code == 201, first.text
    assert first.json()["actor"]["name"] == "Nguyễn Thị Lan"
    assert first.json()["subject_birth_date"] == "2016-05-05"
    # Sealed again (a new nonce) or sent in the clear: the same event, recorded once.
    again = await consent.client.post("/v1/consent-events", json=sealed_event(dict(event, data=dict(event["data"])), key),
                                      headers=SYSTEM)
    clear = await consent.client.post("/v1/consent-events", json=event, headers=SYSTEM)
    assert (again.status_code, clear.status_code) == (200, 200)
    assert len(await history(consent, subject)) == 1


async def test_sealed_data_that_cannot_be_used_is_refused_naming_the_problem(consent, policy):
    subject, other = random_id(), random_id()
    key = await transit_key(consent, subject)
    other_key = await transit_key(consent, other)

    def post(data_change):
        event = consent_event(subject_id=subject)
        data_change(event["data"])
        return consent.client.post("/v1/consent-events", json=event, headers=SYSTEM)

    cases = {
        "not issued": lambda d: d.update(subject_id="never-issued", sealed=seal({"actor": {"role": "self"}}, key, kid="never-issued")),
        "another subject's kid": lambda d: d.update(sealed=seal({"evidence": {}}, other_key, kid=other)),
        "wrong key": lambda d: d.update(sealed=seal({"evidence": {}}, os.urandom(32), kid=subject)),
        "not a JWE": lambda d: d.update(sealed="not-a-jwe"),
        "repeats a clear field": lambda d: d.update(sealed=seal({"actor": {"role": "self"}}, key, kid=subject)),
        "seals the subject id": lambda d: d.update(sealed=seal({"subject_id": subject}, key, kid=subject)),
        "not an object": lambda d: d.update(sealed=jwe.encrypt_compact(
            {"alg": "dir", "enc": "A256GCM", "kid": subject}, b"[1, 2]", OctKey.import_key(key))),
        "another algorithm": lambda d: d.update(sealed=jwe.encrypt_compact(
            {"alg": "A256KW", "enc": "A256GCM", "kid": subject}, b"{}", OctKey.import_key(key))),
        # Nested past every JSON reader's recursion (a RecursionError, a 500, before the limit).
        "nested too deep": lambda d: d.update(sealed=jwe.encrypt_compact(
            {"alg": "dir", "enc": "A256GCM", "kid": subject}, DEEP, OctKey.import_key(key))),
        "a header nested too deep": lambda d: d.update(
            sealed=base64.urlsafe_b64encode(DEEP).decode().rstrip("=") + ".x.x.x.x"),
    }
    for case, change in cases.items():
        response = await post(change)
        assert response.status_code == 422, (case, response.text)
        body = response.json()
        assert body["errors"][0]["field"] == "data.sealed", (case, body)
        if "too deep" in case:
            assert "nested deeper than 64 levels" in body["detail"], body
    # What is inside must still be a valid consent event once opened.
    event = consent_event(subject_id=subject)
    event["data"].pop("actor")
    event["data"]["sealed"] = seal({"actor": {"role": "chieftain"}}, key, kid=subject)
    response = await consent.client.post("/v1/consent-events", json=event, headers=SYSTEM)
    assert response.status_code == 422 and response.json()["errors"][0]["field"].startswith("data.actor")
    assert await history(consent, subject) == []


async def test_an_erasure_destroys_the_transit_key_so_sealed_history_on_kafka_stays_unreadable(
    consent, policy, kafka_bootstrap
):
    subject = random_id()
    key = await transit_key(consent, subject)
    event = sealed_event(consent_event(subject_id=subject, actor=guardian(name="Trần Văn Bình")), key)
    await produce(kafka_bootstrap, "consent.inbound", [structured(event)])
    await eventually(lambda: _recorded(consent, subject))

    await produce(kafka_bootstrap, "dsr.events", [structured(erasure(subject, "req-transit-1"))])
    await eventually(lambda: _key_gone(consent, subject))
    # The key is destroyed, not just hidden: no new one is issued, nothing sealed for them opens.
    refused = await consent.client.post(f"/v1/subjects/{subject}/transit-key", headers=STAFF)
    assert refused.status_code == 410 and refused.headers["content-type"] == "application/problem+json"
    async with consent.pool.acquire() as conn:
        row = await conn.fetchrow("SELECT wrapped_key, destroyed_at FROM transit_keys WHERE subject_id = $1", subject)
    assert row["wrapped_key"] is None and row["destroyed_at"] is not None
    replay = sealed_event(consent_event(subject_id=subject), key)
    late = await consent.client.post("/v1/consent-events", json=replay, headers=SYSTEM)
    assert late.status_code == 422 and "destroyed" in late.json()["detail"]
    # The broker still holds the message, but the guardian's name is not in it in any readable form.
    values = b"".join(m.value for m in await drain(kafka_bootstrap, "consent.inbound"))
    assert subject.encode() in values and "Trần Văn Bình".encode() not in values


async def _recorded(consent, subject: str) -> bool:
    return len(await history(consent, subject)) == 1


async def _key_gone(consent, subject: str) -> bool:
    response = await consent.client.post(f"/v1/subjects/{subject}/transit-key", headers=SYSTEM)
    return response.status_code == 410
