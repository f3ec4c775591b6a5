"""The write path's shortcuts give exactly what the models give: the outgoing event built without
its model is the model's JSON (key for key, in order), and the digest is that of the event copied
with its normalised data."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from services.consent.policies import SOURCE
from services.consent.recording import CONSENT_TYPES, recorded_event
from shared.cloudevents import CloudEvent, json_time, parse_envelope
from shared.events import ConsentEventData
from tests.support import consent_event


def ledger_row(decision: str, moment: datetime) -> dict:
    return {
        "record_id": "6c2b9c1e-8c3d-4d52-9d7f-3f3f2a1b0c9d", "subject_id": "patient-18420", "sequence": 3,
        "event_id": "evt-1", "event_digest": "c" * 64, "source": "clinic/web 환자", "received_via": "kafka",
        "decision": decision, "purpose": "marketing_sms", "policy_id": "privacy-notice", "policy_version": "2",
        "language": "vi", "notice_hash": "a" * 64, "method": "kiosk", "actor_role": "legal_representative",
        "jurisdiction": "KR", "requirement": "representative", "occurred_at": moment - timedelta(minutes=1),
        "recorded_at": moment, "personal": b"\x01sealed", "personal_digest": "d" * 64, "prev_hash": "e" * 64,
        "record_hash": "b" * 64,
    }


@pytest.mark.parametrize("moment", [datetime(2026, 3, 1, 9, 30, tzinfo=UTC),
                                    datetime(2026, 3, 1, 9, 30, 0, 120, tzinfo=UTC)])
@pytest.mark.parametrize("event_type", list(CONSENT_TYPES))
def test_the_outgoing_event_of_a_new_record_is_the_models_json(event_type, moment):
    decision, model = CONSENT_TYPES[event_type]
    row = ledger_row(decision, moment)
    outgoing = recorded_event(row, model)
    from_row = [k for k in model.model_fields if k != "source_event_id"]
    expected = model(**{k: row[k] for k in from_row}, source_event_id=row["event_id"])
    assert (outgoing.topic, outgoing.event_type, outgoing.key, outgoing.source) == (
        expected.topic, expected.event_type, expected.kafka_key(), SOURCE)
    assert json.dumps(outgoing.data) == json.dumps(expected.model_dump(mode="json"))


@pytest.mark.parametrize("moment", [datetime(2026, 3, 1, 9, 30, tzinfo=UTC),
                                    datetime(2026, 3, 1, 9, 30, 0, 120, tzinfo=UTC),
                                    datetime(2026, 3, 1, 18, 30, 0, 5, tzinfo=timezone(timedelta(hours=9)))])
def test_json_time_is_pydantics_json_form(moment):
    assert json_time(moment) == CloudEvent(id="x", source="s", type="t", time=moment).canonical()["time"]


@pytest.mark.parametrize("event", [
    consent_event(time="2026-03-01T09:30:00+09:00"),
    consent_event(birth_date=None, type="consent.withdrawn"),
    {**consent_event(), "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "subject": None},
    consent_event(actor={"role": "legal_representative", "name": "김영희", "relationship": "mother"}),
])
def test_the_digest_is_that_of_the_event_with_its_normalised_data(event):
    envelope = parse_envelope(event)
    data_json = ConsentEventData.model_validate(envelope.data).model_dump(mode="json")
    copied = envelope.model_copy(update={"data": data_json})
    assert envelope.digest(data=data_json) == copied.digest()
    assert envelope.digest(data=data_json) != envelope.digest()  # normalising did change the data
