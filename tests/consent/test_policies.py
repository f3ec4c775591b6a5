"""Policy versions in ko/en/vi, the 7-day notice rule, the purpose catalogue."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from tests.support import MANAGER, STAFF, SYSTEM, consume, policy_body


async def test_first_version_is_published_with_a_hash_of_each_text(consent):
    response = await consent.client.post("/v1/policies", json=policy_body(), headers=MANAGER)

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["text_hashes"]["vi"] == hashlib.sha256("Chính sách quyền riêng tư 1".encode()).hexdigest()
    assert body["published_by"] == "dev-manager"
    assert body["in_effect"] is True


async def test_a_later_version_must_take_effect_at_least_7_days_after_publishing(consent, policy):
    too_soon = (datetime.now(UTC) + timedelta(days=6)).isoformat()
    in_time = (datetime.now(UTC) + timedelta(days=7, minutes=1)).isoformat()

    refused = await consent.client.post("/v1/policies", json=policy_body(version="2", effective_at=too_soon), headers=MANAGER)
    accepted = await consent.client.post("/v1/policies", json=policy_body(version="2", effective_at=in_time), headers=MANAGER)

    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "effective_at"
    assert "7 days" in refused.json()["detail"]
    assert accepted.status_code == 201
    versions = (await consent.client.get("/v1/policies/privacy-notice", headers=STAFF)).json()["versions"]
    assert [(v["version"], v["in_effect"]) for v in versions] == [("1", True), ("2", False)]


async def test_publishing_a_version_twice_is_a_conflict(consent, policy):
    response = await consent.client.post("/v1/policies", json=policy_body(), headers=MANAGER)
    assert response.status_code == 409


async def test_every_language_is_required(consent):
    body = policy_body()
    del body["texts"]["vi"]
    response = await consent.client.post("/v1/policies", json=body, headers=MANAGER)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "texts.vi"


async def test_a_policy_may_cover_only_catalogued_purposes(consent):
    response = await consent.client.post("/v1/policies", json=policy_body(purposes=["membership", "resale"]), headers=MANAGER)
    assert response.status_code == 422
    assert "resale" in response.json()["detail"]


async def test_unknown_policy_is_404(consent):
    response = await consent.client.get("/v1/policies/nope", headers=STAFF)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


async def test_publishing_emits_policy_published(consent, policy, kafka_bootstrap):
    [message] = await consume(kafka_bootstrap, "consent.events", count=1)
    assert message.key == b"privacy-notice"
    assert ("content-type", b"application/cloudevents+json") in list(message.headers)
    import json

    event = json.loads(message.value)
    assert event["type"] == "policy.published"
    assert event["data"]["version"] == "1"


async def test_purpose_catalogue_names_legal_basis_and_retention(consent):
    purposes = {p["id"]: p for p in (await consent.client.get("/v1/purposes", headers=SYSTEM)).json()}

    assert purposes["treatment"]["legal_basis"] == "dpv:LegalObligation"
    assert purposes["treatment"]["needs_consent"] is False
    assert purposes["membership"]["required"] is True
    assert purposes["marketing_email"]["reconfirm_days"] == 730
    assert purposes["marketing_night"]["names"]["en"].startswith("Marketing at night")
    assert set(purposes) >= {"sensitive_health", "marketing_sms", "cookies_analytics", "model_photos",
                             "third_party_provision"}
