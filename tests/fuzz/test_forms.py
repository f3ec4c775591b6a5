"""Fuzz the HTML form posts of the guardian portal and the staff dashboard (not in the OpenAPI
document, so Hypothesis strategies build the forms): the real field names with hostile values,
unknown and repeated fields, raw bodies that are not valid urlencoded UTF-8, wrong content types.

The pages must never answer 5xx; a refusal is a 4xx HTML page in the person's language (or a
redirect), never a stack trace; the security headers are always there; and a filing the portal
accepts is a real request (its private link opens with its token).
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from urllib.parse import quote, urlencode

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.conftest import EXAMPLES, MANAGER_PASSWORD, MANAGER_USER, FuzzStack, hypothesis_settings, seeded

PORTAL_FIELDS = ("type", "who", "residence", "requester_name", "relationship_detail", "name", "birth_date",
                 "subject_id", "contact", "correction_item", "correction_current", "correction_corrected",
                 "objects_to", "complaint", "purposes", "lang")
GOOD = {
    "type": ["access", "erasure", "rectification", "objection", "restriction", "consent_withdrawal", "complaint",
             "nope"],
    "who": ["self", "legal_representative", "agent", "child", ""],
    "residence": ["KR", "VN", "EU", "other", "US", ""],
    "birth_date": ["1985-03-02", "2016-05-05", "2999-01-01", "0000-00-00", "1985-02-30"],
    "lang": ["ko", "en", "vi", "xx"],
    "purposes": ["marketing_email", "treatment", "bogus"],
}
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
_tally: Counter[str] = Counter()
_lock = threading.Lock()

_hostile_text = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=150, max_size=3000),
    st.sampled_from(["<script>alert(1)</script>", "'; DROP TABLE requests; --", "\u202e\u0000", "%00", "{{7*7}}",
                     "../../etc/passwd", "김민수", "Nguyễn Thị Lan", " "]),
)

# schemathesis and Hypothesis disagree about a random module inside strategies; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")


@st.composite
def portal_forms(draw) -> list[tuple[str, str]]:
    pairs = []
    for name in draw(st.lists(st.sampled_from(PORTAL_FIELDS), max_size=len(PORTAL_FIELDS) + 4)):
        value = draw(st.sampled_from(GOOD[name]) | _hostile_text) if name in GOOD else draw(_hostile_text)
        pairs.append((name, value))
    if draw(st.booleans()):
        pairs.append((draw(st.text(max_size=10)), draw(_hostile_text)))
    return pairs


_raw_bodies = st.one_of(
    st.binary(max_size=300),
    st.sampled_from([b"type=%ff%fe&name=%c3%28", b"a=" + b"%" * 50, b"&&&==&=", b"token=%00" * 20]),
)


def _record(label: str, response: httpx.Response) -> None:
    with _lock:
        _tally[label] += 1
        _tally[f"status {response.status_code}"] += 1


def _assert_page(response: httpx.Response, *, json_ok: bool = False) -> None:
    assert response.status_code < 500, f"{response.status_code}: {response.text[:300]}"
    assert response.headers.get("x-content-type-options") == "nosniff"
    assert "content-security-policy" in response.headers
    if 300 <= response.status_code < 400:
        assert response.headers["location"].startswith("/"), response.headers["location"]
        return
    kind = response.headers.get("content-type", "")
    allowed = ("text/html", "application/json") if json_ok else ("text/html",)
    if response.status_code == 422:  # text PostgreSQL cannot store (NUL) is refused as a problem, page or API
        allowed = (*allowed, "application/problem+json")
    assert kind.startswith(allowed), f"{response.status_code} as {kind!r}"
    if response.status_code >= 400 and kind.startswith("text/html"):
        assert "Traceback" not in response.text


def test_portal_filing(fuzz_stack: FuzzStack) -> None:
    with httpx.Client(base_url=fuzz_stack.dsr_url, timeout=30) as http:

        @seeded
        @hypothesis_settings(max_examples=EXAMPLES * 4)
        @given(form=portal_forms(), raw=st.none() | _raw_bodies,
               kind=st.sampled_from(["application/x-www-form-urlencoded", "text/plain", "multipart/form-data", ""]))
        def post(form, raw, kind) -> None:
            body = raw if raw is not None else urlencode(form).encode()
            response = http.post("/portal/requests", content=body, headers={"Content-Type": kind} if kind else {})
            _record("POST /portal/requests", response)
            _assert_page(response)
            if response.status_code == 200:  # filed: the private link opens with its token
                link = re.search(r"/portal/r/([0-9a-f-]{36})#t=([A-Za-z0-9_-]+)", response.text)
                assert link, "a filing answered 200 without its private link"
                opened = http.post(f"/portal/r/{link.group(1)}", data={"token": link.group(2)})
                assert opened.status_code == 200, opened.status_code
            else:
                assert response.status_code in (422, 429), response.status_code

        post()


def test_portal_private_link(fuzz_stack: FuzzStack) -> None:
    request_id = fuzz_stack.ids["request_id"]
    with httpx.Client(base_url=fuzz_stack.dsr_url, timeout=30) as http:

        @seeded
        @hypothesis_settings(max_examples=EXAMPLES * 2)
        @given(path_id=st.sampled_from([request_id]) | st.text(min_size=1, max_size=40).filter(lambda s: "/" not in s),
               token=_hostile_text, raw=st.none() | _raw_bodies, suffix=st.sampled_from(["", "/result"]))
        def post(path_id, token, raw, suffix) -> None:
            body = raw if raw is not None else urlencode({"token": token}).encode()
            response = http.post(f"/portal/r/{quote(path_id, safe='')}{suffix}", content=body,
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
            _record("POST /portal/r/{id}", response)
            _assert_page(response, json_ok=True)
            assert response.status_code in (403, 404, 405, 409, 422), response.status_code  # never opened

        post()


_BREACH_FACTS = ("description", "occurred_at", "discovered_at", "subject_ids", "subject_count", "data_categories",
                 "sensitive", "unique_identifiers", "cause", "cause_detail", "measures", "measures_detail")
DASHBOARD_FORMS = {
    "/dashboard/requests/{request_id}/verification": ("method", "evidence_ref", "representative_checked", "subject_id", "note"),
    "/dashboard/requests/{request_id}/decision": ("decision", "ground", "legal_ground", "late_reason", "note"),
    "/dashboard/requests/{request_id}/extension": ("ground", "reason", "late_reason", "note"),
    "/dashboard/requests/{request_id}/answer": ("answer",),
    "/dashboard/requests/{request_id}/withdraw": ("reason",),
    "/dashboard/systems": ("system_id", "name", "description", "data_categories", "retention_classes", "processor"),
    "/dashboard/policies/{policy_id}": ("version", "effective_at", "ko", "en", "vi", "purposes"),
    "/dashboard/breaches": _BREACH_FACTS,
    "/dashboard/breaches/{breach_id}/update": _BREACH_FACTS,
    "/dashboard/breaches/{breach_id}/people": ("notified_at", "count", "channels"),
    "/dashboard/breaches/{breach_id}/regulator": ("reported_at", "regulator", "reference"),
    "/dashboard/breaches/{breach_id}/close": ("outcome", "reason"),
}


def test_dashboard_forms(fuzz_stack: FuzzStack) -> None:
    ids = {"request_id": fuzz_stack.ids["other_request_id"], "policy_id": "fuzz-policy",
           "breach_id": fuzz_stack.ids["breach_id"]}
    with httpx.Client(base_url=fuzz_stack.dsr_url, timeout=30, follow_redirects=False) as http:
        signin = http.get("/dashboard/signin")
        response = http.post("/dashboard/signin", data={
            "csrf": CSRF.search(signin.text).group(1), "username": MANAGER_USER, "password": MANAGER_PASSWORD,
            "next": "/dashboard/"})
        assert response.status_code == 303, response.text
        csrf = CSRF.search(http.get("/dashboard/").text).group(1)

        @seeded
        @hypothesis_settings(max_examples=EXAMPLES * 4)
        @given(action=st.sampled_from(sorted(DASHBOARD_FORMS)), data=st.data())
        def post(action, data) -> None:
            fields = DASHBOARD_FORMS[action]
            pairs = [("csrf", csrf)] + [(name, data.draw(st.sampled_from(["approve", "reject", "on", "2030-01-01T00:00",
                                                                          "mobile_phone", "privacy-notice", "name",
                                                                          "health", "12", "PIPC", "handled",
                                                                          "2026-01-01T09:00", "kr-access-law",
                                                                          "kr-ext-other"]) | _hostile_text))
                                        for name in data.draw(st.lists(st.sampled_from(fields), max_size=8))]
            response = http.post(re.sub(r"\{(\w+)\}", lambda m: ids[m.group(1)], action), content=urlencode(pairs),
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
            _record(f"POST {action}", response)
            _assert_page(response)

        post()
        assert http.get("/dashboard/").status_code == 200, "the fuzzing signed the manager out"


def test_zz_forms_summary(fuzz_stack: FuzzStack) -> None:
    posts = {k: v for k, v in _tally.items() if k.startswith("POST")}
    print(f"\nForm fuzzing: {sum(posts.values())} posts")
    for name, count in sorted(posts.items()):
        print(f"  {count:6d}  {name}")
    print("  statuses: " + ", ".join(f"{k.split()[1]}: {v}" for k, v in sorted(_tally.items()) if k.startswith("status")))
    assert posts, "no form was fuzzed"
