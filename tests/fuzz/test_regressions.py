"""What the fuzzers found, pinned: one test per finding, against the real services over HTTP."""

from __future__ import annotations

import httpx

from tests.fuzz.conftest import FuzzStack
from tests.support import MANAGER, STAFF, SYSTEM, consent_event


def _is_problem(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body = response.json()
    assert body["status"] == status
    return body


def test_an_invalid_cloudevents_attribute_name_is_a_422_not_a_500(fuzz_stack: FuzzStack) -> None:
    event = consent_event()
    event["Not An Attribute"] = "x"
    with httpx.Client(base_url=fuzz_stack.consent_url, timeout=30) as http:
        body = _is_problem(http.post("/v1/consent-events", json=event, headers=SYSTEM), 422)
    assert "Not An Attribute" in body["detail"]


def test_a_query_parameter_sent_twice_is_refused(fuzz_stack: FuzzStack) -> None:
    """?recipient=a&recipient=b used to mean b, silently."""
    with httpx.Client(base_url=fuzz_stack.notifier_url, timeout=30) as http:
        body = _is_problem(http.get("/v1/notifications/unread-count?recipient=a&recipient=b", headers=STAFF), 422)
        assert body["errors"][0]["field"] == "recipient"
        assert http.get("/v1/notifications/unread-count?recipient=a", headers=STAFF).status_code == 200
    with httpx.Client(base_url=fuzz_stack.dsr_url, timeout=30) as http:
        _is_problem(http.get("/v1/requests?status=received&status=rejected", headers=STAFF), 422)


def test_a_wrong_method_is_a_405_problem_with_allow(fuzz_stack: FuzzStack) -> None:
    with httpx.Client(base_url=fuzz_stack.consent_url, timeout=30) as http:
        response = http.delete("/v1/policies", headers=MANAGER)
    _is_problem(response, 405)
    assert "POST" in response.headers["allow"]


def test_statuses_answered_are_documented(fuzz_stack: FuzzStack) -> None:
    """A body that is not JSON (400), a system registered (201), a replayed consent event (200), the
    intake limit (429), metrics in Prometheus' text format, an unhealthy service (503)."""
    docs = {name: httpx.get(f"{fuzz_stack.url(name)}/openapi.json").json()["paths"]
            for name in ("consent", "dsr", "notifier")}
    assert "400" in docs["dsr"]["/v1/requests/{request_id}/withdraw"]["post"]["responses"]
    assert "201" in docs["dsr"]["/v1/systems"]["post"]["responses"]
    assert "429" in docs["dsr"]["/v1/requests"]["post"]["responses"]
    assert "application/json" in docs["consent"]["/v1/consent-events"]["post"]["responses"]["200"]["content"]
    for paths in docs.values():
        assert list(paths["/metrics"]["get"]["responses"]["200"]["content"]) == ["text/plain"]
        assert "503" in paths["/healthz"]["get"]["responses"]
    request_id = fuzz_stack.ids["other_request_id"]
    with httpx.Client(base_url=fuzz_stack.dsr_url, timeout=30) as http:
        response = http.post(f"/v1/requests/{request_id}/withdraw", content=b"\x10\xff", headers={
            **STAFF, "Content-Type": "application/json"})
    assert response.status_code in (400, 422), response.text
    assert response.headers["content-type"].startswith("application/problem+json")


def test_an_unknown_query_parameter_is_refused(fuzz_stack: FuzzStack) -> None:
    """?unred=true (a typo) used to list every notification, read or not."""
    with httpx.Client(base_url=fuzz_stack.notifier_url, timeout=30) as http:
        body = _is_problem(http.get("/v1/notifications?unred=true", headers=STAFF), 422)
        assert body["errors"][0]["field"] == "unred"
        assert http.get("/v1/notifications?unread=true", headers=STAFF).status_code == 200
    # The pages keep taking what a browser may add (their own parameters are read leniently).
    with httpx.Client(base_url=fuzz_stack.dsr_url, timeout=30) as http:
        assert http.get("/portal/?lang=vi&utm_source=x").status_code == 200


def test_an_offset_beyond_a_bigint_is_a_422_not_a_500(fuzz_stack: FuzzStack) -> None:
    huge = 975968727074458195795640320
    with httpx.Client(timeout=30) as http:
        _is_problem(http.get(f"{fuzz_stack.dsr_url}/v1/requests?offset={huge}", headers=STAFF), 422)
        _is_problem(http.get(f"{fuzz_stack.notifier_url}/v1/notifications?offset={huge}", headers=STAFF), 422)


def test_text_with_a_nul_character_is_a_422_not_a_500(fuzz_stack: FuzzStack) -> None:
    """PostgreSQL cannot store U+0000: a withdrawal reason holding one used to be a 500."""
    request_id = fuzz_stack.ids["request_id"]
    with httpx.Client(base_url=fuzz_stack.dsr_url, timeout=30) as http:
        body = _is_problem(http.post(f"/v1/requests/{request_id}/withdraw", json={"reason": "no\u0000thanks"},
                                     headers=STAFF), 422)
        assert "NUL" in body["detail"]
        assert http.get(f"/v1/requests/{request_id}", headers=STAFF).json()["status"] != "withdrawn"


def test_a_number_is_not_a_send_at_date_time(fuzz_stack: FuzzStack) -> None:
    """?send_at=3.7e-57 was read as a Unix timestamp (1970) and answered 200; it is documented as an
    RFC 3339 date-time."""
    path = f"/v1/subjects/{fuzz_stack.ids['subject_id']}/permissions/treatment"
    with httpx.Client(base_url=fuzz_stack.consent_url, timeout=30) as http:
        for number in ("3.728754467571138e-57", "1700000000", "-1", "inf"):
            body = _is_problem(http.get(path, params={"send_at": number}, headers=SYSTEM), 422)
            assert body["errors"][0]["field"].endswith("send_at"), body
        assert http.get(path, params={"send_at": "2026-11-23T21:30:00+09:00"}, headers=SYSTEM).status_code == 200
