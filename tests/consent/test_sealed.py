"""Personal fields sealed to the subject's public key, over HTTP and Kafka (shared/sealing.py)."""

from __future__ import annotations

import base64
import os

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from joserfc import jwe
from joserfc.jwk import OctKey, OKPKey

from shared.sealing import decode_key, open_sealed, public_jwk, seal, seal_to
from tests.consent.test_dsr_commands import erasure, history
from tests.support import STAFF, SYSTEM, consent_event, drain, eventually, guardian, produce, random_id, structured

PERSONAL = ("subject_birth_date", "actor", "evidence")
#: Past every JSON reader's recursion, within what joserfc opens (about 64 kB).
DEEP = b"[" * 20_000 + b"]" * 20_000


async def transit_key(consent, subject: str) -> dict:
    """The subject's public key: all a clinic system gets, and all it needs to seal."""
    response = await consent.client.post(f"/v1/subjects/{subject}/transit-key", headers=SYSTEM)
    assert response.status_code == 200, response.text
    jwk = response.json()
    assert (jwk["kty"], jwk["crv"], jwk["kid"], jwk["alg"], jwk["enc"]) == ("OKP", "X25519", subject, "ECDH-ES", "A256GCM")
    assert not {"d", "k"} & set(jwk)  # nothing secret
    assert response.headers["cache-control"] == "no-store"
    return jwk


def sealed_event(event: dict, key: dict) -> dict:
    data = event["data"]
    hidden = {name: data.pop(name) for name in PERSONAL if name in data}
    data["sealed"] = seal_to(hidden, key, kid=data["subject_id"])
    return event


def _ecdh(subject: str, key: dict, plaintext: bytes) -> str:
    return jwe.encrypt_compact({"alg": "ECDH-ES", "enc": "A256GCM", "kid": subject}, plaintext,
                               OKPKey.import_key({"kty": "OKP", "crv": "X25519", "x": key["x"]}),
                               algorithms=["ECDH-ES", "A256GCM"])


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
        "not issued": lambda d: d.update(subject_id="never-issued", sealed=seal_to({"actor": {"role": "self"}}, key, kid="never-issued")),
        "another subject's kid": lambda d: d.update(sealed=seal_to({"evidence": {}}, other_key, kid=other)),
        "another subject's key": lambda d: d.update(sealed=seal_to({"evidence": {}}, other_key, kid=subject)),
        "wrong key": lambda d: d.update(sealed=seal_to({"evidence": {}}, public_jwk(os.urandom(32), kid=subject), kid=subject)),
        "a task's algorithm (dir)": lambda d: d.update(sealed=seal({"evidence": {}}, os.urandom(32), kid=subject)),
        "not a JWE": lambda d: d.update(sealed="not-a-jwe"),
        "repeats a clear field": lambda d: d.update(sealed=seal_to({"actor": {"role": "self"}}, key, kid=subject)),
        "seals the subject id": lambda d: d.update(sealed=seal_to({"subject_id": subject}, key, kid=subject)),
        "not an object": lambda d: d.update(sealed=_ecdh(subject, key, b"[1, 2]")),
        "another algorithm": lambda d: d.update(sealed=jwe.encrypt_compact(
            {"alg": "A256KW", "enc": "A256GCM", "kid": subject}, b"{}", OctKey.import_key(os.urandom(32)))),
        # Nested past every JSON reader's recursion (a RecursionError, a 500, before the limit).
        "nested too deep": lambda d: d.update(sealed=_ecdh(subject, key, DEEP)),
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
    event["data"]["sealed"] = seal_to({"actor": {"role": "chieftain"}}, key, kid=subject)
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


async def test_only_the_request_service_gets_the_private_key_and_it_opens_what_was_sealed_to_the_public_one(consent):
    """A system seals to the public key and can open nothing sealed, its own or another system's;
    the private half goes to the request service's key (opens_sealed) alone."""
    subject = random_id()
    public = await transit_key(consent, subject)
    token = seal_to({"note": "무릎 MRI 2024"}, public, kid=subject)
    for key in ("dev-system", "dev-staff", "dev-manager"):
        refused = await consent.client.post(f"/v1/subjects/{subject}/transit-key/private",
                                            headers={"Authorization": f"Bearer {key}"})
        assert refused.status_code in (403,), (key, refused.text)
        assert refused.headers["content-type"] == "application/problem+json"
    given = await consent.client.post(f"/v1/subjects/{subject}/transit-key/private",
                                      headers={"Authorization": "Bearer dev-dsr"})
    assert given.status_code == 200 and given.headers["cache-control"] == "no-store", given.text
    private = given.json()
    assert private["x"] == public["x"] and private["kid"] == subject
    root = decode_key(private["d"])
    assert X25519PrivateKey.from_private_bytes(root)  # a real X25519 key
    assert open_sealed(token, root) == {"note": "무릎 MRI 2024"}
    # The request service's key acts for no person: it cannot be used on someone's behalf.
    behalf = await consent.client.post(f"/v1/subjects/{subject}/transit-key/private",
                                       headers={"Authorization": "Bearer dev-dsr", "Dongui-On-Behalf-Of": "x"})
    assert behalf.status_code in (401, 403), behalf.text
