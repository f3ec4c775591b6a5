"""Sign-in, sessions, CSRF, rate limits (and the device cookies that keep a stranger from locking
staff out), headers, and nothing loaded from elsewhere."""

from __future__ import annotations

import secrets
from html.parser import HTMLParser
from urllib.parse import urlsplit

import httpx

from shared.digests import sha256_hex
from tests.dashboard.conftest import MANAGER_PASSWORD, STAFF_PASSWORD, csrf_of, post_form, sign_in
from tests.dsr.factories import child_request, file
from tests.support import STAFF


async def test_passwords_are_argon2_and_sign_in_sets_a_strict_session_cookie(dash):
    async with dash.pool.acquire() as conn:
        rows = await conn.fetch("SELECT username, password_hash FROM staff_accounts ORDER BY username")
    hashes = {r["username"]: r["password_hash"] for r in rows}
    assert set(hashes) >= {"kim", "lee", "manager"}  # "manager": the development account
    for h in hashes.values():
        assert h.startswith("$argon2id$")
    assert MANAGER_PASSWORD not in hashes["kim"] and STAFF_PASSWORD not in hashes["lee"]

    async with dash.browser() as client:
        response = await client.get("/dashboard/")
        assert response.status_code == 303 and response.headers["location"].startswith("/dashboard/signin")
        response = await sign_in(client, "manager", "dev-manager-password")  # the dev account works
        assert response.status_code == 303
        cookie = response.headers["set-cookie"]
        assert "dongui_staff=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
        assert "Path=/dashboard" in cookie
        token = client.cookies.get("dongui_staff")
        async with dash.pool.acquire() as conn:
            stored = await conn.fetch("SELECT session_id FROM staff_sessions")
        assert token not in {r["session_id"] for r in stored}  # only its SHA-256 is kept
        page = await client.get("/dashboard/")
        assert page.status_code == 200 and "Development manager" in page.text
        for name, value in {"content-security-policy": "default-src 'self'", "x-frame-options": "DENY",
                            "referrer-policy": "same-origin", "x-content-type-options": "nosniff"}.items():
            assert value in page.headers[name]
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        css = await client.get("/dashboard/static/dashboard.css")
        assert css.status_code == 200 and css.headers["x-content-type-options"] == "nosniff"
        out = await client.post("/dashboard/signout", data={"csrf": csrf_of(page.text)})
        assert out.status_code == 303
        async with dash.pool.acquire() as conn:
            assert await conn.fetchval("SELECT count(*) FROM staff_sessions") == 0
        client.cookies.set("dongui_staff", token, path="/dashboard")  # an old cookie opens nothing
        assert (await client.get("/dashboard/")).status_code == 303


async def test_wrong_passwords_are_refused_then_rate_limited(dash):
    async with dash.browser() as client:
        for _ in range(3):  # the test stack allows 3 failures per username
            response = await sign_in(client, "kim", "not-the-password")
            assert response.status_code == 401
            assert "dongui_staff" not in response.headers.get("set-cookie", "")
        unknown = await sign_in(client, "nobody", "whatever-password")
        assert unknown.status_code == 401  # same answer for an unknown user
        limited = await sign_in(client, "kim", MANAGER_PASSWORD)  # even the right password waits now
        assert limited.status_code == 429 and "15" in limited.text
        assert "Retry-After" in limited.headers
        other = await sign_in(client, "lee", STAFF_PASSWORD)  # another account is not locked out
        assert other.status_code == 303


def set_cookie(response: httpx.Response, name: str) -> str | None:
    """The Set-Cookie line of ``name`` in a response, if it set one."""
    return next((line for line in response.headers.get_list("set-cookie") if line.startswith(f"{name}=")), None)


def cookie_value(response: httpx.Response, name: str) -> str:
    line = set_cookie(response, name)
    assert line is not None, f"no {name} cookie set"
    return line.split(";", 1)[0].split("=", 1)[1]


async def test_a_strangers_failures_never_lock_staff_out_of_their_own_browser(dash):
    async with dash.browser() as own, dash.browser() as stranger:
        first = await sign_in(own, "kim", MANAGER_PASSWORD)
        assert first.status_code == 303
        device = set_cookie(first, "dongui_device")
        assert device is not None and "HttpOnly" in device and "Path=/dashboard" in device
        assert "samesite=strict" in device.lower() and f"Max-Age={90 * 86400}" in device
        token = cookie_value(first, "dongui_device")
        async with dash.pool.acquire() as conn:
            rows = await conn.fetch("SELECT device_id, username FROM staff_devices")
        assert [(r["device_id"], r["username"]) for r in rows] == [(sha256_hex(token), "kim")]  # only its SHA-256
        page = await own.get("/dashboard/")
        assert (await own.post("/dashboard/signout", data={"csrf": csrf_of(page.text)})).status_code == 303

        # A stranger, from the same address: kim's budget for untrusted browsers (3 in this stack),
        # then other names up to the address's (20).
        for _ in range(3):
            assert (await sign_in(stranger, "kim", "a-guess-of-a-password")).status_code == 401
        for i in range(17):
            assert (await sign_in(stranger, f"nobody-{i}", "a-guess-of-a-password")).status_code == 401
        assert (await sign_in(stranger, "kim", MANAGER_PASSWORD)).status_code == 429  # held, right password or not
        assert (await sign_in(stranger, "lee", STAFF_PASSWORD)).status_code == 429  # the address is spent

        again = await sign_in(own, "kim", MANAGER_PASSWORD)  # her own browser is not held by either
        assert again.status_code == 303
        assert cookie_value(again, "dongui_device") == token  # and keeps its token
        assert (await own.get("/dashboard/")).status_code == 200


async def test_a_trusted_browser_has_a_limit_of_its_own(dash):
    async with dash.browser() as own:
        assert (await sign_in(own, "kim", MANAGER_PASSWORD)).status_code == 303
        for _ in range(3):  # 3 failures per trusted browser in this stack
            assert (await sign_in(own, "kim", "a-guess-of-a-password")).status_code == 401
        assert (await sign_in(own, "kim", MANAGER_PASSWORD)).status_code == 429
        async with dash.pool.acquire() as conn:
            keys = {r["key"] for r in await conn.fetch("SELECT key FROM staff_signin_failures")}
        assert len(keys) == 1 and keys.pop().startswith("device:")  # counted against that browser alone
    async with dash.browser() as other:  # so kim's account is not locked for anyone else
        assert (await sign_in(other, "kim", MANAGER_PASSWORD)).status_code == 303


async def test_a_device_cookie_of_another_account_or_a_forged_one_gives_nothing(dash):
    async with dash.browser() as lees, dash.browser() as stranger:
        signed = await sign_in(lees, "lee", STAFF_PASSWORD)
        assert signed.status_code == 303
        lee_token = cookie_value(signed, "dongui_device")
        for _ in range(3):
            assert (await sign_in(stranger, "kim", "a-guess-of-a-password")).status_code == 401
        assert (await sign_in(lees, "kim", MANAGER_PASSWORD)).status_code == 429  # trusted for lee, not for kim

    tampered = lee_token[:-1] + ("A" if lee_token[-1] != "A" else "B")
    for forged in (tampered, secrets.token_urlsafe(32), "x" * 500, ""):
        async with dash.browser() as browser:
            browser.cookies.set("dongui_device", forged, domain="127.0.0.1", path="/dashboard")
            assert (await sign_in(browser, "kim", MANAGER_PASSWORD)).status_code == 429, forged
            # Signing in as someone whose budget is intact works, and a token the service did not
            # issue is replaced, never adopted.
            signed = await sign_in(browser, "lee", STAFF_PASSWORD)
            assert signed.status_code == 303
            assert cookie_value(signed, "dongui_device") not in (forged, lee_token)


async def test_posts_without_the_right_csrf_token_are_refused(dash, manager):
    opened = await file(dash, child_request())
    page = f"/dashboard/requests/{opened['request_id']}"
    form = {"method": "mobile_phone", "evidence_ref": "PASS-1", "representative_checked": "on"}
    missing = await manager.post(f"{page}/verification", data=form)
    assert missing.status_code == 403
    wrong = await manager.post(f"{page}/verification", data={**form, "csrf": "forged"})
    assert wrong.status_code == 403
    token = csrf_of((await manager.get(page)).text)
    cross = await manager.post(f"{page}/verification", data={**form, "csrf": token},
                               headers={"Origin": "https://evil.example"})
    assert cross.status_code == 403
    async with dash.browser() as anonymous:  # the sign-in form has its own token
        assert (await anonymous.post("/dashboard/signin", data={"username": "kim", "password": MANAGER_PASSWORD})
                ).status_code == 403
    status = (await dash.dsr.get(f"/v1/requests/{opened['request_id']}", headers=STAFF)).json()["status"]
    assert status == "verifying"  # nothing moved


async def test_staff_cannot_approve_or_extend(dash, staff):
    opened = await file(dash, child_request())
    page = f"/dashboard/requests/{opened['request_id']}"
    verified = await post_form(staff, page, f"{page}/verification",
                               {"method": "mobile_phone", "evidence_ref": "PASS-7", "representative_checked": "on"})
    assert verified.status_code == 303
    refused = await post_form(staff, page, f"{page}/decision", {"decision": "approve"})
    assert (refused.status_code == 403 and "privacy manager" in refused.text.lower()) or "보호책임자" in refused.text
    extended = await post_form(staff, page, f"{page}/extension", {"reason": "busy"})
    assert extended.status_code == 403
    got = (await dash.dsr.get(f"/v1/requests/{opened['request_id']}", headers=STAFF)).json()
    assert got["status"] == "in_review" and got["extension_reason"] is None


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs) -> None:
        for name, value in attrs:
            if name in ("src", "href", "action", "srcset", "poster", "data") and value:
                self.urls.append(value)


async def test_pages_load_nothing_from_elsewhere(dash, manager):
    opened = await file(dash, child_request())
    pages = ["/dashboard/", f"/dashboard/requests/{opened['request_id']}", "/dashboard/subjects/patient-1",
             "/dashboard/policies/privacy-notice", "/dashboard/inbox", "/dashboard/systems", "/dashboard/signin"]
    for path in pages:
        response = await manager.get(path) if path != "/dashboard/signin" else await dash.browser().get(path)
        assert response.status_code == 200, (path, response.text)
        parser = Links()
        parser.feed(response.text)
        assert parser.urls, path
        for url in parser.urls:
            parts = urlsplit(url)
            assert not parts.scheme and not parts.netloc, (path, url)
        assert "<script" not in response.text
