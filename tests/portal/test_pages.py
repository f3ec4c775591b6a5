"""The portal's pages over plain HTTP: languages, security headers, server-side checks."""

from __future__ import annotations

import re
import string

from services.dsr.api import IntakeLimiter
from services.dsr.portal.messages import LANGUAGES, RETENTION_NAMES, M, pick_language
from services.dsr.web.deps import get_intake_limiter
from tests.dsr.factories import file, request_body


def test_every_text_exists_in_korean_english_and_vietnamese_with_the_same_placeholders():
    for key, texts in {**M, **RETENTION_NAMES}.items():
        assert set(texts) == set(LANGUAGES), key
        fields = {lang: {f for _, f, _, _ in string.Formatter().parse(text) if f} for lang, text in texts.items()}
        assert fields["ko"] == fields["en"] == fields["vi"], key
        assert all(text.strip() for text in texts.values()), key


def test_the_language_comes_from_the_choice_then_the_cookie_then_the_browser_then_korean():
    assert pick_language("vi", "en", "ko") == "vi"
    assert pick_language(None, "en", "vi") == "en"
    assert pick_language(None, None, "fr-FR,vi;q=0.8,en;q=0.9") == "en"
    assert pick_language(None, None, "vi-VN,vi;q=0.9") == "vi"
    assert pick_language("xx", None, "fr") == "ko"


def form(**values) -> dict[str, str]:
    data = {"lang": "en", "type": "access", "who": "self", "jurisdiction": "KR", "name": "Kim Minsu",
            "birth_date": "1985-03-02", "contact": "minsu@example.com"}
    data.update(values)
    return {k: v for k, v in data.items() if v is not None}


async def test_the_form_is_served_in_each_language_with_strict_security_headers(stack):
    pages = {}
    for accept, lang in (("ko-KR,ko;q=0.9", "ko"), ("en-GB,en;q=0.9", "en"), ("vi-VN,vi;q=0.9", "vi")):
        response = await stack.dsr.get("/portal/", headers={"Accept-Language": accept})
        assert response.status_code == 200
        assert f'<html lang="{lang}">' in response.text
        pages[lang] = response.text
    assert "요청 보내기" in pages["ko"] and "Send my request" in pages["en"] and "Gửi yêu cầu" in pages["vi"]
    # what the clinic keeps by law, from shared.rules.retention, and the deadlines
    assert "Medical records" in pages["en"] and "10 years" in pages["en"] and "Korea 10 days" in pages["en"]
    assert "진료기록부" in pages["ko"] and "Hồ sơ bệnh án" in pages["vi"]

    headers = response.headers
    csp = headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert headers["referrer-policy"] == "no-referrer" and headers["x-content-type-options"] == "nosniff"
    # nothing from another origin, and no inline script or style
    for text in pages.values():
        assert not re.search(r'(src|href|action)="(https?:)?//', text)
        assert "<script>" not in text and "<style" not in text and " style=" not in text
    for name, kind in (("portal.css", "text/css"), ("portal.js", "text/javascript")):
        static = await stack.dsr.get(f"/portal/static/{name}")
        assert static.status_code == 200 and static.headers["content-type"].startswith(kind)
        assert static.headers["x-content-type-options"] == "nosniff"
        assert "http://" not in static.text and "https://" not in static.text
    assert (await stack.dsr.get("/portal/static/../app.py")).status_code == 404

    chosen = await stack.dsr.get("/portal/?lang=vi", headers={"Accept-Language": "en"})
    assert '<html lang="vi">' in chosen.text and "dongui_lang=vi" in chosen.headers["set-cookie"]
    remembered = await stack.dsr.get("/portal/", headers={"Accept-Language": "en", "Cookie": "dongui_lang=vi"})
    assert '<html lang="vi">' in remembered.text


async def test_the_service_s_own_refusals_are_shown_next_to_the_field(stack):
    unknown = await stack.dsr.post("/portal/requests", data=form(type="objection", objects_to="DSR-2000-NOPE"))
    assert unknown.status_code == 422
    assert re.search(r'id="err-objects_to"[^>]*>There is no request with this reference\.<', unknown.text)
    assert 'aria-describedby="help-objects_to err-objects_to" aria-invalid="true"' in unknown.text

    agent = await stack.dsr.post("/portal/requests", data=form(lang="ko", who="agent", requester_name="Kim",
                                                                birth_date="2016-05-05"))
    assert agent.status_code == 422 and "만 14세 미만 아동의 요청은 대리인이 아니라" in agent.text

    stack.dsr_app.dependency_overrides[get_intake_limiter] = lambda: IntakeLimiter(per_minute=0)
    limited = await stack.dsr.post("/portal/requests", data=form())
    assert limited.status_code == 429 and "Too many requests from here" in limited.text


async def test_the_status_page_and_the_download_need_the_token_sent_in_the_body(stack):
    opened = await file(stack, request_body(language="en"))
    rid = opened["request_id"]

    shell = await stack.dsr.get(f"/portal/r/{rid}")
    assert shell.status_code == 200 and opened["reference"] not in shell.text and "no-store" in shell.headers["cache-control"]
    wrong = await stack.dsr.post(f"/portal/r/{rid}", data={"token": "nope", "lang": "en"})
    assert wrong.status_code == 403 and "does not open this request" in wrong.text and opened["reference"] not in wrong.text
    right = await stack.dsr.post(f"/portal/r/{rid}", data={"token": opened["token"], "lang": "en"})
    assert right.status_code == 200 and opened["reference"] in right.text and "Identity check" in right.text
    download = await stack.dsr.post(f"/portal/r/{rid}/result", data={"token": "nope"})
    assert download.status_code == 403 and "application/json" not in download.headers["content-type"]
