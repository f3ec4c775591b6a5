"""Every response under /portal/ and /dashboard/ carries the pages' security headers: the pages, and
also what no page answers (an unknown path, a wrong method, an invalid form, a body too large, a
repeated query parameter) and the 500 of a bug, over real HTTP."""

from __future__ import annotations

import pytest

from services.dsr.dashboard.frame import SECURITY_HEADERS as DASHBOARD_HEADERS
from services.dsr.dashboard.frame import get_dashboard
from services.dsr.portal.routes import SECURITY_HEADERS as PORTAL_HEADERS
from services.dsr.web.deps import get_service

TOO_LARGE = b"x" * (3 * 1024 * 1024)  # over the app's 2 MiB limit
FORM = {"content-type": "application/x-www-form-urlencoded"}

CASES = [
    # (method, path, request options, the status answered)
    ("GET", "/portal/no-such-page", {}, 404),
    ("GET", "/portal/static/no-such-file.css", {}, 404),
    ("GET", "/portal", {}, 308),
    ("DELETE", "/portal/", {}, 405),
    ("PUT", "/portal/requests", {}, 405),
    ("POST", "/portal/requests", {"data": {"type": "nonsense", "subject_name": "<script>"}}, 422),
    ("POST", "/portal/requests", {"content": b"{not a form", "headers": {"content-type": "application/json"}}, 422),
    ("POST", "/portal/requests", {"content": b"\xff\xfe=%%%&&&", "headers": FORM}, 422),
    ("POST", "/portal/r/no-such-request", {"content": TOO_LARGE, "headers": FORM}, 413),
    ("GET", "/dashboard/no-such-page", {}, 404),
    ("GET", "/dashboard/static/no-such-file.css", {}, 404),
    ("PATCH", "/dashboard/signin", {}, 405),
    ("GET", "/dashboard/signin?next=/dashboard/&next=/dashboard/inbox", {}, 422),
    ("POST", "/dashboard/signin", {"data": {"username": "kim", "password": "x"}}, 403),  # no CSRF token
    ("POST", "/dashboard/signin", {"content": b"\xff\xfe=%%%&&&", "headers": FORM}, 403),
    ("POST", "/dashboard/signin", {"content": TOO_LARGE, "headers": FORM}, 413),
]


def expected_headers(path: str) -> dict[str, str]:
    return PORTAL_HEADERS if path.startswith("/portal") else DASHBOARD_HEADERS


def assert_headers(response, path: str) -> None:
    for name, value in expected_headers(path).items():
        assert response.headers.get(name) == value, (response.request.method, path, response.status_code, name)


@pytest.mark.parametrize("prefix", ["/portal", "/dashboard"])
async def test_what_no_page_answers_still_carries_the_security_headers(stack, prefix):
    for method, path, options, status in [c for c in CASES if c[1].startswith(prefix)]:
        response = await stack.dsr.request(method, path, **options)
        assert response.status_code == status, (method, path, response.text[:300])
        assert_headers(response, path)
        if status in (404, 405, 413) or (status == 422 and prefix == "/dashboard"):
            assert response.headers["content-type"] == "application/problem+json"
            assert response.json()["status"] == status


async def test_a_bug_answers_a_500_problem_with_the_security_headers_and_its_request_id(stack):
    def broken() -> None:
        raise RuntimeError("a bug in a page")

    app = stack.dsr_app
    app.dependency_overrides[get_service] = broken  # every portal page asks for the service
    app.dependency_overrides[get_dashboard] = broken  # every dashboard page asks for its state
    try:
        for path in ("/portal/", "/dashboard/signin"):
            response = await stack.dsr.get(path, headers={"X-Request-ID": f"bug-{path.strip('/')}"})
            assert response.status_code == 500, response.text
            assert response.headers["content-type"] == "application/problem+json"
            assert_headers(response, path)
            body = response.json()
            assert body["status"] == 500 and "a bug" not in response.text  # no detail of the error leaks
            assert response.headers["x-request-id"] == body["request_id"] == f"bug-{path.strip('/')}"
    finally:
        app.dependency_overrides.clear()
    assert (await stack.dsr.get("/portal/")).status_code == 200
