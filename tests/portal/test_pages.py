"""The portal's pages over plain HTTP: languages, security headers, server-side checks."""

from __future__ import annotations

import re
from datetime import datetime

from services.dsr.api import IntakeLimiter
from services.dsr.portal.messages import pick_language
from services.dsr.web.deps import get_intake_limiter
from tests.dsr.factories import auth, file, request_body, verify
from tests.support import MANAGER


def test_the_language_comes_from_the_choice_then_the_cookie_then_the_browser_then_korean():
    assert pick_language("vi", "en", "ko") == "vi"
    assert pick_language(None, "en", "vi") == "en"
    assert pick_language(None, None, "fr-FR,vi;q=0.8,en;q=0.9") == "en"
    assert pick_language(None, None, "vi-VN,vi;q=0.9") == "vi"
    assert pick_language("xx", None, "fr") == "ko"


def form(**values) -> dict[str, str]:
    data = {"lang": "en", "type": "access", "who": "self", "residence": "KR", "name": "Kim Minsu",
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
    assert "Medical records" in pages["en"] and "10 years" in pages["en"]
    assert "The clinic answers within 10 days of receiving your request" in pages["en"]
    assert "Which law applies" not in pages["en"] and 'name="jurisdiction"' not in pages["en"]  # never asked
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
    still_open = await file(stack, request_body())  # neither refused nor extended
    not_refused = await stack.dsr.post("/portal/requests", data=form(type="objection", objects_to=still_open["reference"]))
    assert not_refused.status_code == 422
    assert "Only a refused request, or one still open whose deadline was extended, can be objected to." in not_refused.text

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


async def test_the_private_link_opens_in_the_requests_language_unless_the_person_chooses_another(stack):
    """Issue 21, item 3: a Vietnamese mother's link opened on a Korean phone reads in Vietnamese."""
    opened = await file(stack, request_body(language="vi"))
    rid, korean = opened["request_id"], {"Accept-Language": "ko-KR,ko;q=0.9"}
    shell = await stack.dsr.get(f"/portal/r/{rid}", headers=korean)
    assert shell.headers["content-language"] == "ko" and 'name="lang" value=""' in shell.text
    page = await stack.dsr.post(f"/portal/r/{rid}", data={"token": opened["token"], "lang": ""}, headers=korean)
    assert page.status_code == 200 and page.headers["content-language"] == "vi"
    # The language switch still works: the shell carries the choice on to the status page.
    chosen = await stack.dsr.get(f"/portal/r/{rid}", params={"lang": "en"}, headers=korean)
    assert 'name="lang" value="en"' in chosen.text
    page = await stack.dsr.post(f"/portal/r/{rid}", data={"token": opened["token"], "lang": "en"}, headers=korean)
    assert page.headers["content-language"] == "en"


async def test_a_guardian_joins_a_childs_own_request_and_a_requester_withdraws_on_the_status_page(stack):
    """Issue 21, item 4: what the API already did, on the portal, in the request's language."""
    child = await file(stack, request_body(name="Trần Minh An", birth_date="2016-05-05", subject_id="patient-2002",
                                           language="vi"))
    rid, token = child["request_id"], child["token"]
    page = await stack.dsr.post(f"/portal/r/{rid}", data={"token": token})
    assert 'id="guardian-form"' in page.text and "Tham gia với tư cách người giám hộ" in page.text
    missing = await stack.dsr.post(f"/portal/r/{rid}/guardian", data={"token": token, "name": "Nguyễn Thị Lan"})
    assert missing.status_code == 422 and 'id="err-g-contact"' in missing.text and "Vui lòng điền mục này." in missing.text
    assert 'value="Nguyễn Thị Lan"' in missing.text  # what was typed stays
    joined = await stack.dsr.post(f"/portal/r/{rid}/guardian", data={
        "token": token, "name": "Nguyễn Thị Lan", "relationship_detail": "mẹ", "contact": "lan@example.com"})
    assert joined.status_code == 200 and 'id="notice"' in joined.text and 'id="guardian-form"' not in joined.text
    got = (await stack.dsr.get(f"/v1/requests/{rid}", headers=MANAGER)).json()
    assert got["status"] == "verifying" and got["requester"]["name"] == "Nguyễn Thị Lan"
    again = await stack.dsr.post(f"/portal/r/{rid}/guardian", data={
        "token": token, "name": "Someone", "relationship_detail": "x", "contact": "x@example.com"})
    assert again.status_code == 409

    unconfirmed = await stack.dsr.post(f"/portal/r/{rid}/withdraw", data={"token": token})
    assert unconfirmed.status_code == 422 and "Vui lòng đánh dấu ô" in unconfirmed.text
    assert (await stack.dsr.get(f"/v1/requests/{rid}", headers=MANAGER)).json()["status"] == "verifying"
    withdrawn = await stack.dsr.post(f"/portal/r/{rid}/withdraw", data={"token": token, "confirm": "on",
                                                                         "reason": "Đã giải quyết trực tiếp"})
    assert withdrawn.status_code == 200 and "Yêu cầu đã được rút lại." in withdrawn.text
    assert 'id="withdraw-form"' not in withdrawn.text
    got = (await stack.dsr.get(f"/v1/requests/{rid}", headers=MANAGER)).json()
    assert got["status"] == "withdrawn" and got["transitions"][-1]["actor"] == "requester"
    late = await stack.dsr.post(f"/portal/r/{rid}/withdraw", data={"token": token, "confirm": "on"})
    assert late.status_code == 409
    wrong = await stack.dsr.post(f"/portal/r/{rid}/withdraw", data={"token": "nope", "confirm": "on"})
    assert wrong.status_code == 403


async def test_one_rectification_carries_several_corrections(stack):
    """Issue 21, item 4: more than one correction on the portal (the API took 50, the form one)."""
    base = form(type="rectification", subject_id="patient-1001", correction_item="contact.phone",
                correction_corrected="010-9999-0000")
    half = await stack.dsr.post("/portal/requests", data={**base, "correction_item_2": "name"})
    assert half.status_code == 422 and 'id="err-correction_corrected_2"' in half.text
    assert 'href="#f-correction_corrected_2">What it should say: Please fill this in.' in half.text
    filed = await stack.dsr.post("/portal/requests", data={**base, "correction_item_2": "name",
                                                            "correction_current_2": "Kim Minsoo",
                                                            "correction_corrected_2": "Kim Minsu"})
    assert filed.status_code == 200, filed.text
    request_id = re.search(r"/portal/r/([0-9a-f-]+)#t=", filed.text).group(1)
    got = (await stack.dsr.get(f"/v1/requests/{request_id}", headers=MANAGER)).json()
    assert got["details"]["corrections"] == [
        {"item": "contact.phone", "corrected": "010-9999-0000"},
        {"item": "name", "current": "Kim Minsoo", "corrected": "Kim Minsu"}]


async def test_a_vietnamese_parent_writes_the_date_day_first(stack):
    """Issue 21, item 4: dates as the language writes them (dd/mm/yyyy in Vietnamese)."""
    filed = await stack.dsr.post("/portal/requests", data=form(lang="vi", birth_date="02/03/1985"))
    assert filed.status_code == 200, filed.text
    request_id = re.search(r"/portal/r/([0-9a-f-]+)#t=", filed.text).group(1)
    got = (await stack.dsr.get(f"/v1/requests/{request_id}", headers=MANAGER)).json()
    assert got["subject"]["birth_date"] == "1985-03-02"
    # In English 02/03/1985 could be either order: only year-month-day is read.
    english = await stack.dsr.post("/portal/requests", data=form(lang="en", birth_date="02/03/1985"))
    assert english.status_code == 422 and "year-month-day" in english.text
    impossible = await stack.dsr.post("/portal/requests", data=form(lang="vi", birth_date="31/02/2016"))
    assert impossible.status_code == 422 and "ngày/tháng/năm" in impossible.text


async def test_the_error_summary_names_each_field(stack):
    """Issue 21, item 6: "Ngày sinh: Vui lòng điền mục này." rather than the message alone."""
    refused = await stack.dsr.post("/portal/requests", data=form(lang="vi", birth_date="", type=None))
    assert refused.status_code == 422
    summary = refused.text[refused.text.index('id="error-summary"'):refused.text.index("</section>")]
    assert "Ngày sinh: Vui lòng điền mục này." in summary
    assert re.search(r'href="#f-type-0">[^<:*]+: ', summary)  # a group is named by its legend, without its mark


async def test_a_vietnamese_resident_files_on_the_portal_and_the_clinics_deadline_applies(stack):
    filed = await stack.dsr.post("/portal/requests", data=form(lang="vi", residence="VN"))
    assert filed.status_code == 200, filed.text
    request_id = re.search(r"/portal/r/([0-9a-f-]+)#t=", filed.text).group(1)
    got = (await stack.dsr.get(f"/v1/requests/{request_id}", headers=MANAGER)).json()
    assert got["jurisdiction"] == "KR" and got["laws"] == ["KR", "VN"] and got["acknowledge_by"]
    days = (datetime.fromisoformat(got["due_at"]) - datetime.fromisoformat(got["received_at"])).days
    assert 9 <= days <= 10


async def test_a_complaint_is_filed_on_the_portal_and_its_answer_read_there(stack):
    missing = await stack.dsr.post("/portal/requests", data=form(type="complaint"))
    assert missing.status_code == 422 and 'id="err-complaint"' in missing.text
    filed = await stack.dsr.post("/portal/requests", data=form(type="complaint", subject_id="patient-cmp-portal",
                                                              complaint="You sent my X-rays to the wrong email."))
    assert filed.status_code == 200, filed.text
    link = re.search(r"/portal/r/([0-9a-f-]+)#t=([A-Za-z0-9_-]+)", filed.text)
    request_id, token = link.group(1), link.group(2)
    got = (await stack.dsr.get(f"/v1/requests/{request_id}", headers=auth(token))).json()
    assert got["type"] == "complaint" and got["details"]["complaint"] == "You sent my X-rays to the wrong email."
    await verify(stack, request_id)
    answered = await stack.dsr.post(f"/v1/requests/{request_id}/answer", headers=MANAGER,
                                    json={"answer": "We are sorry.\nThe email was recalled on 4 March."})
    assert answered.status_code == 200, answered.text

    page = await stack.dsr.post(f"/portal/r/{request_id}", data={"token": token, "lang": "en"})
    assert page.status_code == 200
    assert re.search(r'id="answer">We are sorry\.\nThe email was recalled on 4 March\.<', page.text)
    assert "Where else you can turn" in page.text and "1833-6972" in page.text and "118" in page.text


async def test_a_refusal_and_an_extension_name_their_ground_and_remedies_in_each_language(stack):
    refused = await file(stack, request_body(type="erasure", subject_id="patient-ref-portal", language="vi"))
    await verify(stack, refused["request_id"])
    response = await stack.dsr.post(f"/v1/requests/{refused['request_id']}/decision", headers=MANAGER, json={
        "decision": "reject", "ground": "kr-erasure-kept-by-law", "legal_ground": "hồ sơ năm 2024"})
    assert response.status_code == 200, response.text
    extended = await file(stack, request_body(subject_id="patient-ext-portal", language="ko"))
    response = await stack.dsr.post(f"/v1/requests/{extended['request_id']}/extension", headers=MANAGER,
                                    json={"ground": "kr-ext-retrieval", "reason": "보관 창고"})
    assert response.status_code == 200, response.text

    expected = {
        "ko": ("다른 법령에서 그 개인정보가 수집 대상으로", "개인정보 분쟁조정위원회", "이의신청", "기록을 보관 장소나"),
        "en": ("Another law names this information", "Personal Information Dispute Mediation Committee", "objection",
               "the records must be retrieved from an archive"),
        "vi": ("Luật khác quy định thông tin này", "Ủy ban Hòa giải Tranh chấp Thông tin Cá nhân", "phản đối",
               "hồ sơ phải được lấy từ kho lưu trữ"),
    }
    for lang, (ground, remedy, objection, extension_ground) in expected.items():
        page = (await stack.dsr.post(f"/portal/r/{refused['request_id']}",
                                     data={"token": refused["token"], "lang": lang})).text
        assert re.search(r'id="ground">[^<]*' + re.escape(ground), page), lang
        cited = {"ko": "「개인정보 보호법」 제36조제1항 단서", "en": "PIPA Art. 36(1) proviso",
                 "vi": "phần ngoại trừ khoản 1 Điều 36 Luật Bảo vệ thông tin cá nhân Hàn Quốc"}[lang]
        assert f"({cited})" in page and "hồ sơ năm 2024" in page  # the law cited as the language cites it
        assert re.search(r'id="how-to-object">[^<]*' + objection, page), lang
        remedies = re.search(r'<ul id="remedies">(.*?)</ul>', page, re.S).group(1)
        assert remedy in remedies and "1833-6972" in remedies and "118" in remedies and "1301" in remedies
        page = (await stack.dsr.post(f"/portal/r/{extended['request_id']}",
                                     data={"token": extended["token"], "lang": lang})).text
        notice = re.search(r'<div class="notice" id="extension">(.*?)</div>', page, re.S).group(1)
        assert extension_ground in notice and "보관 창고" in notice and objection in notice, lang
