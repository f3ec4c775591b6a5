"""Recording consent over HTTP: idempotency, the age rules, withdrawal, validation, roles."""

from __future__ import annotations

import asyncio
import copy
import json

from tests.support import MANAGER, STAFF, SYSTEM, consent_event, guardian


async def test_replay_returns_the_original_record_and_records_nothing_new(consent, policy):
    event = consent_event()
    first = await consent.client.post("/v1/consent-events", json=event, headers=SYSTEM)
    again = await consent.client.post("/v1/consent-events", json=event, headers=SYSTEM)

    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json()["record_id"] == first.json()["record_id"]
    history = await consent.client.get(f"/v1/subjects/{event['subject']}/consents/history", headers=STAFF)
    assert len(history.json()["records"]) == 1


async def test_same_event_id_with_different_content_is_a_conflict(consent, policy):
    event = consent_event()
    await consent.client.post("/v1/consent-events", json=event, headers=SYSTEM)
    changed = copy.deepcopy(event)
    changed["data"]["method"] = "paper"

    response = await consent.client.post("/v1/consent-events", json=changed, headers=SYSTEM)

    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert "different content" in response.json()["detail"]


async def test_child_under_14_cannot_grant_consent_alone_in_korea(consent, policy):
    child = consent_event(birth_date="2015-06-01", time="2026-11-20T10:00:00+09:00")

    response = await consent.client.post("/v1/consent-events", json=child, headers=SYSTEM)

    assert response.status_code == 422
    body = response.json()
    assert "legal representative" in body["detail"]
    assert body["errors"][0]["field"] == "data.actor.role"


async def test_legal_representative_grants_for_a_child_under_14(consent, policy):
    event = consent_event(birth_date="2015-06-01", actor=guardian(), time="2026-11-20T10:00:00+09:00")

    response = await consent.client.post("/v1/consent-events", json=event, headers=SYSTEM)
    permission = await consent.client.get(
        f"/v1/subjects/{event['subject']}/permissions/marketing_email", headers=SYSTEM
    )

    assert response.status_code == 201, response.text
    assert response.json()["actor"] == {"role": "legal_representative", "name": "Nguyễn Thị Lan",
                                        "relationship": "mother", "contact": None}
    assert permission.json()["allowed"] is True


async def test_age_is_taken_on_the_day_of_the_event_in_the_clinics_time_zone(consent, policy):
    # Turns 14 on 2026-11-21 in Seoul; 2026-11-20T16:00Z is already 2026-11-21 01:00 in Seoul.
    event = consent_event(birth_date="2012-11-21", time="2026-11-20T16:00:00Z")
    response = await consent.client.post("/v1/consent-events", json=event, headers=SYSTEM)
    assert response.status_code == 201, response.text

    day_before = consent_event(birth_date="2012-11-21", time="2026-11-20T14:00:00Z")
    response = await consent.client.post("/v1/consent-events", json=day_before, headers=SYSTEM)
    assert response.status_code == 422


async def test_vietnamese_child_from_7_to_15_needs_both_their_own_and_the_guardians_grant(consent, policy):
    subject = "vn-child-1"
    child = consent_event(subject_id=subject, birth_date="2015-01-01", jurisdiction="VN", language="vi")
    parent = consent_event(subject_id=subject, birth_date="2015-01-01", jurisdiction="VN", language="vi",
                           actor=guardian())
    url = f"/v1/subjects/{subject}/permissions/marketing_email"

    assert (await consent.client.post("/v1/consent-events", json=child, headers=SYSTEM)).status_code == 201
    waiting = (await consent.client.get(url, headers=SYSTEM)).json()
    assert (await consent.client.post("/v1/consent-events", json=parent, headers=SYSTEM)).status_code == 201
    allowed = (await consent.client.get(url, headers=SYSTEM)).json()

    assert waiting["allowed"] is False
    assert waiting["reason"] == "awaiting_joint_consent"
    assert allowed["allowed"] is True


async def test_vietnamese_child_under_7_and_eu_child_under_16_need_the_representative(consent, policy):
    young = consent_event(birth_date="2021-01-01", jurisdiction="VN")
    teen_eu = consent_event(birth_date="2011-01-01", jurisdiction="EU")
    by_parent = consent_event(birth_date="2011-01-01", jurisdiction="EU", actor=guardian("Anna Schmidt"))

    assert (await consent.client.post("/v1/consent-events", json=young, headers=SYSTEM)).status_code == 422
    assert (await consent.client.post("/v1/consent-events", json=teen_eu, headers=SYSTEM)).status_code == 422
    assert (await consent.client.post("/v1/consent-events", json=by_parent, headers=SYSTEM)).status_code == 201


async def test_a_childs_data_is_never_provided_to_a_third_party_whatever_was_granted(consent, policy):
    """Both seed policies, section 7: no child's data to a third party. A guardian's grant is
    recorded (the ledger keeps what was said) but allows nothing; once of age the person decides."""
    child, adult = "kr-child-3p", "kr-adult-3p"
    for subject, birth_date, actor in ((child, "2016-05-05", guardian()), (adult, "1990-04-01", None)):
        event = consent_event(subject_id=subject, purpose="third_party_provision", birth_date=birth_date, actor=actor)
        assert (await consent.client.post("/v1/consent-events", json=event, headers=SYSTEM)).status_code == 201

    def url(subject: str, purpose: str) -> str:
        return f"/v1/subjects/{subject}/permissions/{purpose}"

    refused = (await consent.client.get(url(child, "third_party_provision"), headers=SYSTEM)).json()
    assert (refused["allowed"], refused["reason"]) == (False, "child_no_third_party")
    assert "section 7" in refused["explanation"]
    allowed = (await consent.client.get(url(adult, "third_party_provision"), headers=SYSTEM)).json()
    assert (allowed["allowed"], allowed["reason"]) == (True, "granted")
    # What a law requires is not a consent: treatment stays allowed for the child.
    treatment = (await consent.client.get(url(child, "treatment"), headers=SYSTEM)).json()
    assert treatment["reason"] == "legal_basis"
    listed = (await consent.client.get(f"/v1/subjects/{child}/consents", headers=SYSTEM)).json()
    assert [(p["purpose"], p["allowed"], p["reason"]) for p in listed["purposes"]] == [
        ("third_party_provision", False, "child_no_third_party")]


async def test_withdrawal_takes_effect_at_once(consent, policy):
    subject = "patient-withdraws"
    grant = consent_event(subject_id=subject, time="2026-11-01T09:00:00+09:00")
    withdraw = consent_event(subject_id=subject, type="consent.withdrawn", time="2026-11-02T09:00:00+09:00")
    url = f"/v1/subjects/{subject}/permissions/marketing_email"

    await consent.client.post("/v1/consent-events", json=grant, headers=SYSTEM)
    before = (await consent.client.get(url, headers=SYSTEM)).json()
    await consent.client.post("/v1/consent-events", json=withdraw, headers=SYSTEM)
    after = (await consent.client.get(url, headers=SYSTEM)).json()

    assert (before["allowed"], before["reason"]) == (True, "granted")
    assert (after["allowed"], after["reason"]) == (False, "withdrawn")


async def test_a_late_older_event_does_not_override_a_newer_decision(consent, policy):
    subject = "patient-late-delivery"
    withdraw = consent_event(subject_id=subject, type="consent.withdrawn", time="2026-11-02T09:00:00+09:00")
    older_grant = consent_event(subject_id=subject, time="2026-11-01T09:00:00+09:00")

    await consent.client.post("/v1/consent-events", json=withdraw, headers=SYSTEM)
    await consent.client.post("/v1/consent-events", json=older_grant, headers=SYSTEM)
    permission = (await consent.client.get(f"/v1/subjects/{subject}/permissions/marketing_email", headers=SYSTEM)).json()

    assert permission["reason"] == "withdrawn"


async def test_permission_reasons_for_never_asked_declined_and_legal_basis(consent, policy):
    subject = "patient-reasons"
    await consent.client.post(
        "/v1/consent-events", json=consent_event(subject_id=subject, type="consent.declined", purpose="marketing_sms"),
        headers=SYSTEM,
    )

    async def reason(purpose: str) -> tuple[bool, str]:
        body = (await consent.client.get(f"/v1/subjects/{subject}/permissions/{purpose}", headers=SYSTEM)).json()
        return body["allowed"], body["reason"]

    assert await reason("marketing_email") == (False, "never_asked")
    assert await reason("marketing_sms") == (False, "declined")
    assert await reason("treatment") == (True, "legal_basis")


async def test_marketing_consent_expires_unless_reconfirmed_within_two_years(consent, policy):
    subject = "patient-old-consent"
    await consent.client.post(
        "/v1/consent-events", json=consent_event(subject_id=subject, time="2024-11-01T09:00:00+09:00"),
        headers=SYSTEM,
    )
    body = (await consent.client.get(f"/v1/subjects/{subject}/permissions/marketing_email", headers=SYSTEM)).json()
    assert (body["allowed"], body["reason"]) == (False, "expired")

    await consent.client.post("/v1/consent-events", json=consent_event(subject_id=subject), headers=SYSTEM)
    body = (await consent.client.get(f"/v1/subjects/{subject}/permissions/marketing_email", headers=SYSTEM)).json()
    assert (body["allowed"], body["reason"]) == (True, "granted")


async def test_unknown_policy_version_and_uncovered_purpose_are_refused(consent, policy):
    unknown_version = consent_event(policy_version="99")
    response = await consent.client.post("/v1/consent-events", json=unknown_version, headers=SYSTEM)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "data.policy_version"

    unknown_purpose = consent_event(purpose="selling_data")
    response = await consent.client.post("/v1/consent-events", json=unknown_purpose, headers=SYSTEM)
    assert response.status_code == 422


async def test_bundled_consent_cannot_be_expressed(consent, policy):
    bundled = consent_event()
    bundled["data"]["purposes"] = ["marketing_email", "marketing_sms"]

    response = await consent.client.post("/v1/consent-events", json=bundled, headers=SYSTEM)

    assert response.status_code == 422
    assert "data.purposes" in [e["field"] for e in response.json()["errors"]]


async def test_invalid_input_is_a_problem_naming_the_field(consent, policy):
    event = consent_event()
    event["data"]["method"] = "carrier-pigeon"

    response = await consent.client.post("/v1/consent-events", json=event, headers=SYSTEM)

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["field"] == "data.method"
    assert "data.method" in response.json()["detail"]


async def test_a_body_that_is_not_json_is_a_422_not_a_500(consent, policy):
    response = await consent.client.post(
        "/v1/consent-events", content=b"{not json", headers={**SYSTEM, "content-type": "application/json"}
    )
    assert response.status_code == 422


async def test_no_key_is_401_and_a_wrong_role_is_403(consent, policy):
    event = consent_event()
    no_key = await consent.client.post("/v1/consent-events", json=event)
    bad_key = await consent.client.post("/v1/consent-events", json=event, headers={"Authorization": "Bearer nope"})
    staff = await consent.client.post("/v1/consent-events", json=event, headers=STAFF)
    system_publishing = await consent.client.post("/v1/policies", json={}, headers=SYSTEM)

    assert no_key.status_code == 401 and no_key.headers["www-authenticate"] == "Bearer"
    assert bad_key.status_code == 401
    assert staff.status_code == 403
    assert system_publishing.status_code == 403
    assert (await consent.client.get("/v1/purposes", headers=MANAGER)).status_code == 200


async def test_an_oversized_body_is_refused_with_413(consent, policy):
    event = consent_event()
    event["data"]["evidence"] = {"scan": "x" * (3 * 1024 * 1024)}

    response = await consent.client.post("/v1/consent-events", json=event, headers=SYSTEM)

    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"


async def test_every_response_carries_a_request_id_and_metrics_count_requests(consent, policy):
    response = await consent.client.get("/v1/purposes", headers={**SYSTEM, "X-Request-ID": "trace-me-1"})
    metrics = await consent.client.get("/metrics")

    assert response.headers["x-request-id"] == "trace-me-1"
    assert 'dongui_http_requests_total{method="GET",route="/v1/purposes",service="consent",status="200"}' in metrics.text
    assert "dongui_http_request_seconds_bucket" in metrics.text


async def test_unknown_paths_are_problems_too(consent):
    response = await consent.client.get("/v1/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


async def test_an_oversized_body_without_a_length_is_refused_with_413(consent, policy):
    async def chunks():
        for _ in range(40):
            yield b"x" * (100 * 1024)

    response = await consent.client.post(
        "/v1/consent-events", content=chunks(), headers={**SYSTEM, "content-type": "application/json"}
    )

    assert response.status_code == 413


async def test_a_marketing_send_at_night_also_needs_the_night_time_consent(consent, policy):
    subject = "patient-night-owl"
    await consent.client.post("/v1/consent-events", json=consent_event(subject_id=subject, purpose="marketing_sms"),
                              headers=SYSTEM)
    url = f"/v1/subjects/{subject}/permissions/marketing_sms"

    async def check(send_at: str) -> tuple[bool, str]:
        body = (await consent.client.get(url, params={"send_at": send_at}, headers=SYSTEM)).json()
        return body["allowed"], body["reason"]

    assert await check("2026-11-23T10:00:00+09:00") == (True, "granted")
    assert await check("2026-11-23T21:30:00+09:00") == (False, "night_time")
    assert await check("2026-11-23T22:30:00Z") == (False, "night_time")  # 07:30 the next morning in Seoul
    assert await check("2026-11-23T23:00:00Z") == (True, "granted")  # 08:00 in Seoul
    await consent.client.post("/v1/consent-events", json=consent_event(subject_id=subject, purpose="marketing_night"),
                              headers=SYSTEM)
    assert await check("2026-11-23T21:30:00+09:00") == (True, "granted")
    no_offset = await consent.client.get(url, params={"send_at": "2026-11-23T21:30:00"}, headers=SYSTEM)
    assert no_offset.status_code == 422


async def test_a_permission_check_refuses_a_malformed_subject_id_as_every_subject_route_does(consent, policy):
    # The check reads its path itself (services/consent/api.py): its refusals must be FastAPI's own.
    for subject in ["a%20b", "x" * 129, "a%0A", "%C3%A9"]:
        check = await consent.client.get(f"/v1/subjects/{subject}/permissions/treatment", headers=SYSTEM)
        other = await consent.client.get(f"/v1/subjects/{subject}/consents", headers=SYSTEM)
        assert check.status_code == other.status_code == 422, subject
        assert check.headers["content-type"] == "application/problem+json"
        assert check.json()["errors"] == other.json()["errors"], subject
        assert check.json()["errors"][0]["field"] == "subject_id"
    unknown = await consent.client.get("/v1/subjects/p-1/permissions/no-such-purpose", headers=SYSTEM)
    assert unknown.status_code == 404 and "no-such-purpose" in unknown.json()["detail"]


async def test_the_permission_check_refuses_a_bad_send_at_as_fastapi_would(consent, policy):
    # The check reads send_at itself (services/consent/api.py): its refusals must be FastAPI's own,
    # and a repeated or unknown query parameter is refused as on every other route.
    url = "/v1/subjects/p-1/permissions/marketing_sms"
    cases = {
        "send_at=garbage": ("send_at", "datetime_from_date_parsing"),
        "send_at=": ("send_at", "datetime_from_date_parsing"),
        "send_at=2026-13-01T00:00:00Z": ("send_at", "datetime_from_date_parsing"),
        "send_at=2026-11-23T21:30:00": ("send_at", "timezone_aware"),
        "send_at=1700000000": ("send_at", "value_error"),
        "send_at=2026-11-23T21:30:00Z&send_at=2026-11-23T10:00:00Z": ("send_at", "repeated"),
        "sendat=2026-11-23T21:30:00Z": ("sendat", "unknown"),
    }
    for query, (field, kind) in cases.items():
        response = await consent.client.get(f"{url}?{query}", headers=SYSTEM)
        assert response.status_code == 422, query
        assert response.headers["content-type"] == "application/problem+json"
        assert [(e["field"], e["type"]) for e in response.json()["errors"]] == [(field, kind)], query
    fine = await consent.client.get(f"{url}?send_at=2026-11-23T10:00:00%2B09:00", headers=SYSTEM)
    assert fine.status_code == 200 and fine.json()["reason"] == "never_asked"


async def test_the_permission_checks_parameters_are_documented(consent):
    document = (await consent.client.get("/openapi.json")).json()
    operation = document["paths"]["/v1/subjects/{subject_id}/permissions/{purpose}"]["get"]
    parameters = {p["name"]: p for p in operation["parameters"]}
    assert set(parameters) == {"subject_id", "purpose", "send_at"}
    assert parameters["subject_id"]["in"] == parameters["purpose"]["in"] == "path"
    assert parameters["subject_id"]["schema"] == {
        "type": "string", "minLength": 1, "maxLength": 128, "pattern": "^[A-Za-z0-9._:@-]+$", "title": "Subject Id"}
    assert parameters["send_at"]["in"] == "query" and not parameters["send_at"]["required"]


async def test_permission_checks_read_through_the_lane_on_connections_of_their_own(consent, policy):
    """The checks' connections come on top of the pool's maximum, so that concurrent checks never
    leave the recording short of connections, and a recorded decision is seen by the next check."""
    runtime = consent.app.state.runtime
    settings = consent.settings
    assert runtime.pool.get_max_size() == settings.db_pool_max + settings.db_read_connections

    event = consent_event(subject_id="lane-1")
    assert (await consent.client.post("/v1/consent-events", json=event, headers=SYSTEM)).status_code == 201
    url = "/v1/subjects/lane-1/permissions/marketing_email"
    answers = await asyncio.gather(*(consent.client.get(url, headers=SYSTEM) for _ in range(20)))
    assert all(a.status_code == 200 and a.json()["allowed"] for a in answers)
    assert runtime.reads._held <= settings.db_read_connections


async def test_the_body_of_a_consent_event_is_read_once(consent, policy, monkeypatch):
    """The bytes go straight into the body's model, envelope and data in one pass
    (``shared.bodies``): nothing decodes them again, and the recording takes the data as validated."""
    from services.consent.schemas import ConsentCloudEvent
    from shared.cloudevents import CloudEvent
    from shared.events import ConsentEventData

    body = json.dumps(consent_event()).encode()
    calls: list[str] = []
    real_loads = json.loads

    def loads(text, *args, **kwargs):
        if text == body:
            calls.append("json.loads")
        return real_loads(text, *args, **kwargs)

    def spy(model, name, label):
        real = getattr(model, name)

        def wrapper(cls, value, *args, **kwargs):
            if model is ConsentEventData and isinstance(value, ConsentEventData):
                return real(value, *args, **kwargs)  # an instance is taken as it is, not validated
            if cls is model:
                calls.append(label)
            return real(value, *args, **kwargs)

        monkeypatch.setattr(model, name, classmethod(wrapper))

    monkeypatch.setattr(json, "loads", loads)
    spy(ConsentCloudEvent, "model_validate_json", "body")
    spy(CloudEvent, "model_validate", "envelope again")
    spy(CloudEvent, "model_validate_json", "envelope again")
    spy(ConsentEventData, "model_validate", "data again")
    response = await consent.client.post("/v1/consent-events", content=body,
                                         headers={**SYSTEM, "content-type": "application/json"})
    assert response.status_code == 201, response.text
    assert calls == ["body"]


async def test_a_bad_body_gets_the_answer_fastapi_gives_and_every_error_at_once(consent, policy):
    event = consent_event()
    event["specversion"] = "2.0"
    event["subject"] = "x" * 300  # an envelope rule of CloudEvents
    event["data"]["purpose"] = 5
    json_headers = {**SYSTEM, "content-type": "application/json"}

    everything = await consent.client.post("/v1/consent-events", json=event, headers=SYSTEM)
    assert everything.status_code == 422
    assert [e["field"] for e in everything.json()["errors"]] == ["specversion", "subject", "data.purpose"]
    # Attribute names are checked once the attributes are valid (a rule over the whole envelope).
    named = await consent.client.post("/v1/consent-events", json={**consent_event(), "Bad-Name": "1"}, headers=SYSTEM)
    assert named.status_code == 422
    assert "'Bad-Name' is not a valid CloudEvents attribute name" in named.json()["errors"][0]["message"]

    not_utf8 = await consent.client.post("/v1/consent-events", content=b'{"id": "\xff"}', headers=json_headers)
    assert not_utf8.status_code == 400 and not_utf8.json()["detail"] == "There was an error parsing the body"
    empty = await consent.client.post("/v1/consent-events", content=b"", headers=json_headers)
    assert empty.status_code == 422 and empty.json()["errors"][0] == {
        "field": "body", "message": "Field required", "type": "missing"}
    # A body that is not declared JSON is not read as JSON (FastAPI's strict content type).
    for content_type in ("text/plain", None):
        headers = {**SYSTEM, **({"content-type": content_type} if content_type else {})}
        untyped = await consent.client.post("/v1/consent-events", content=json.dumps(consent_event()), headers=headers)
        assert untyped.status_code == 422 and untyped.json()["errors"][0]["field"] == "body"
    # application/cloudevents+json is JSON: recorded.
    typed = await consent.client.post("/v1/consent-events", content=json.dumps(consent_event()),
                                      headers={**SYSTEM, "content-type": "application/cloudevents+json"})
    assert typed.status_code == 201, typed.text


async def test_text_that_is_not_unicode_is_refused_not_a_500(consent, policy):
    """JSON can escape a lone surrogate (\\ud800), which no UTF-8 text or database can hold."""
    body = json.dumps(consent_event()).replace('"signup-v3"', '"signup-v3\\ud800"', 1).encode()
    response = await consent.client.post("/v1/consent-events", content=body,
                                         headers={**SYSTEM, "content-type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "body"
