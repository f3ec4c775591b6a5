"""A date or date-time written as a number is refused, over HTTP and on consent.inbound.

pydantic reads a number (or a string holding one) as Unix time: a CloudEvent with ``"time":
1700000000`` was recorded as made on 2023-11-14, a birth date of ``"86400"`` as 1970-01-02. The
contracts say RFC 3339 text (``shared/dates.py``)."""

from __future__ import annotations

import json

import pytest

from services.dsr.schemas import SubjectIn
from shared.cloudevents import CloudEvent
from shared.events import ConsentEventData
from tests.support import MANAGER, STAFF, SYSTEM, consent_event, consume, eventually, policy_body, produce, structured

NUMBERS = [1700000000, 1.5e9, "1700000000", "3.7e-57", "-1", "inf"]


def _fields(response) -> list[str]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return [e["field"] for e in response.json()["errors"]]


@pytest.mark.parametrize("number", NUMBERS)
async def test_a_number_is_no_consent_event_time(consent, policy, number):
    event = consent_event(subject_id="time-as-number")
    event["time"] = number
    assert "time" in _fields(await consent.client.post("/v1/consent-events", json=event, headers=SYSTEM))


@pytest.mark.parametrize("number", [86400, "86400", "1.0"])
async def test_a_number_is_no_birth_date(consent, policy, number):
    event = consent_event(subject_id="birth-date-as-number")
    event["data"]["subject_birth_date"] = number
    fields = _fields(await consent.client.post("/v1/consent-events", json=event, headers=SYSTEM))
    assert "data.subject_birth_date" in fields


async def test_nothing_is_recorded_for_a_refused_time_and_text_is_still_read(consent, policy):
    subject = "time-written-out"
    refused = consent_event(subject_id=subject)
    refused["time"] = 1700000000
    assert (await consent.client.post("/v1/consent-events", json=refused, headers=SYSTEM)).status_code == 422
    history = await consent.client.get(f"/v1/subjects/{subject}/consents/history", headers=STAFF)
    assert history.json()["records"] == []

    written = consent_event(subject_id=subject, time="2026-11-21T10:00:00+09:00")
    response = await consent.client.post("/v1/consent-events", json=written, headers=SYSTEM)
    assert response.status_code == 201, response.text
    assert response.json()["occurred_at"].startswith("2026-11-21T01:00:00")


@pytest.mark.parametrize("number", [1767225600, "1767225600"])
async def test_a_number_is_no_policy_effective_at(consent, number):
    body = policy_body(policy_id="numbers", effective_at="2026-01-01T00:00:00+09:00")
    body["effective_at"] = number
    assert "effective_at" in _fields(await consent.client.post("/v1/policies", json=body, headers=MANAGER))


async def test_a_number_as_time_on_kafka_is_dead_lettered_with_the_reason(consent, policy, kafka_bootstrap):
    subject = "kafka-time-as-number"
    numbered = consent_event(subject_id="kafka-numbered-time")
    numbered["time"] = 1700000000
    binary_numbered = consent_event(subject_id="kafka-numbered-ce-time")
    good = consent_event(subject_id=subject)
    await produce(kafka_bootstrap, "consent.inbound", [
        structured(numbered),
        (b"kafka-numbered-ce-time", json.dumps(binary_numbered["data"]).encode(),
         [("ce_specversion", b"1.0"), ("ce_id", binary_numbered["id"].encode()), ("ce_source", b"clinic/emr"),
          ("ce_type", b"consent.granted"), ("ce_time", b"1700000000"), ("content-type", b"application/json")]),
        structured(good),
    ])

    async def recorded():
        response = await consent.client.get(f"/v1/subjects/{subject}/consents/history", headers=STAFF)
        return response.json()["records"] or None

    await eventually(recorded)
    dead = {m.key: m for m in await consume(kafka_bootstrap, "privacy.dead-letter", count=2)}
    reason = {key: dict(m.headers)["dongui-dlq-reason"].decode() for key, m in dead.items()}
    assert "time" in reason[b"kafka-numbered-time"] and "not a number" in reason[b"kafka-numbered-time"]
    # In binary mode the CloudEvents SDK reads ce_time itself, and refuses a number too.
    assert "time" in reason[b"kafka-numbered-ce-time"], reason


def test_the_models_refuse_numbers_and_keep_text_and_values_made_in_code():
    from datetime import date

    with pytest.raises(ValueError, match="not a number"):
        CloudEvent.model_validate_json('{"id": "a", "source": "s", "type": "t", "time": 1700000000}')
    assert CloudEvent.model_validate_json(
        '{"id": "a", "source": "s", "type": "t", "time": "2026-11-21T10:00:00+09:00"}').time.utcoffset().seconds == 9 * 3600
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        SubjectIn.model_validate({"name": "김민수", "birth_date": 86400})
    assert str(SubjectIn.model_validate({"name": "김민수", "birth_date": "1985-03-02"}).birth_date) == "1985-03-02"
    data = {"subject_id": "p", "purpose": "treatment", "policy_id": "p", "policy_version": "1", "language": "ko",
            "method": "web", "actor": {"role": "self"}}
    assert ConsentEventData.model_validate({**data, "subject_birth_date": date(1990, 4, 1)}).subject_birth_date
