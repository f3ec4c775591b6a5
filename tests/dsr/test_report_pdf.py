"""The printable result (issue 21, fixed contract): ``GET /v1/requests/{id}/result`` with
``Accept: application/pdf`` and the portal's button give a PDF in the request's language, with the
clinic, what each system found, what is kept and why, and how to object; its text is extracted back
to check it. A system that holds nothing is listed as such, never as a recipient. On the dashboard,
staff are warned when a system's records disagree with what the requester gave."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import httpx
from pypdf import PdfReader

from services.dsr import report_pdf
from tests.dashboard.conftest import sign_in
from tests.dsr.factories import approve, auth, file, request_body, verify
from tests.support import MANAGER, STAFF, eventually


def _text(pdf: bytes) -> str:
    """The PDF's text, without spaces or line breaks (wrapping differs with the page width)."""
    return re.sub(r"\s+", "", "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages))


async def _completed(stack, request_id: str) -> bool:
    got = (await stack.dsr.get(f"/v1/requests/{request_id}", headers=MANAGER)).json()
    return got["status"] in ("completed", "partially_completed")


async def _answered(stack, **body) -> dict:
    """An access request filed, verified, approved and answered by the example systems."""
    opened = await file(stack, request_body(**body))
    await verify(stack, opened["request_id"])
    await approve(stack, opened["request_id"])
    await eventually(lambda: _completed(stack, opened["request_id"]), timeout=30)
    return opened


async def test_an_access_result_prints_in_the_requests_language_with_the_records(stack, clinic, monkeypatch):
    await clinic()
    opened = await _answered(stack, subject_id="patient-1001", language="vi")
    path = f"/v1/requests/{opened['request_id']}/result"

    as_json = await stack.dsr.get(path, headers=auth(opened["token"]))
    assert as_json.headers["content-type"].startswith("application/json")  # the default, for machines
    pdf = await stack.dsr.get(path, headers={**auth(opened["token"]), "Accept": "application/pdf"})
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF") and "no-store" in pdf.headers["cache-control"]
    assert f'{opened["reference"]}.pdf' in pdf.headers["content-disposition"]
    text = _text(pdf.content)
    # Vietnamese headings, the clinic, the request, and the records themselves (a Korean name too).
    assert "Báocáokếtquảyêucầuvềdữliệucánhân" in text and "Dongui" in text and opened["reference"] in text
    assert "Thôngtintìmthấyởtừnghệthống" in text and "Hồsơbệnhánđiệntử" in text  # the EMR, in its words
    assert "김서연" in text and "M54.5" in text and "Lumbarstrain" in text
    assert "Hồsơbệnhán" in text  # the retention class in words, not `medical_record`
    # The marketing list (a processor) returned data for this person, so it is among the recipients.
    assert "Danhsáchnhậntinquảngcáo" in text[text.index("Đãcungcấpcho"):]

    # The same rules as the JSON: once closed, staff do not read it; the privacy manager does.
    assert (await stack.dsr.get(path, headers={**STAFF, "Accept": "application/pdf"})).status_code == 403
    manager = await stack.dsr.get(path, headers={**MANAGER, "Accept": "application/pdf"})
    assert manager.status_code == 200 and manager.content.startswith(b"%PDF")

    # The portal's status page links to it; the token travels in the POSTed form.
    page = await stack.dsr.post(f"/portal/r/{opened['request_id']}", data={"token": opened["token"], "lang": ""})
    assert 'action="/portal/r/' in page.text and 'id="download-report"' in page.text
    report = await stack.dsr.post(f"/portal/r/{opened['request_id']}/report", data={"token": opened["token"]})
    assert report.status_code == 200 and report.headers["content-type"] == "application/pdf"
    refused = await stack.dsr.post(f"/portal/r/{opened['request_id']}/report", data={"token": "nope"})
    assert refused.status_code == 403 and not refused.content.startswith(b"%PDF")

    # Without its fonts the report is a 503 that says which, on the API and on the portal.
    monkeypatch.setattr(stack.service.settings, "report_font", "/nonexistent/font.ttf")
    unavailable = await stack.dsr.get(path, headers={**auth(opened["token"]), "Accept": "application/pdf"})
    assert unavailable.status_code == 503 and "DSR_REPORT_FONT" in unavailable.json()["detail"]
    unavailable = await stack.dsr.post(f"/portal/r/{opened['request_id']}/report",
                                       data={"token": opened["token"]}, headers={"Accept-Language": "en"})
    assert unavailable.status_code == 503 and "The report cannot be made right now" in unavailable.text


async def test_a_system_that_holds_nothing_is_never_a_recipient(stack, clinic):
    await clinic()
    opened = await _answered(stack, subject_id="patient-4004", language="ko")
    pdf = await stack.dsr.get(f"/v1/requests/{opened['request_id']}/result",
                              headers={**auth(opened["token"]), "Accept": "application/pdf"})
    text = _text(pdf.content)
    nothing, recipients = text.index("정보가없는시스템"), text.index("제공받은곳")
    assert "전자의무기록(EMR)" in text[nothing:recipients]  # the EMR holds nothing about them
    assert "전자의무기록(EMR)" not in text[recipients:]


async def test_staff_are_warned_when_a_systems_records_disagree_with_what_the_requester_gave(stack, clinic):
    """Issue 21, item 5: the EMR's patient-1001 was born on 1990-04-01; the requester wrote another day."""
    await clinic()
    opened = await _answered(stack, subject_id="patient-1001", birth_date="1990-04-11")
    async with httpx.AsyncClient(base_url=str(stack.dsr.base_url), timeout=30) as browser:
        assert (await sign_in(browser, "manager", "dev-manager-password")).status_code == 303
        page = (await browser.get(f"/dashboard/requests/{opened['request_id']}?lang=en")).text
    assert 'id="disagreements"' in page
    assert "Electronic medical records: date of birth — given 1990-04-11, held 1990-04-01" in page


def test_every_glyph_is_drawn_as_written_whichever_face_comes_first():
    """fpdf2 garbles a face first used after a line wholly in the fallback face (a Korean category
    name, then the bullet of its first record): the report uses each face first (``prime``)."""
    result = {"reference": "DSR-2026-TEST1", "type": "access", "status": "completed", "closed_at": None,
              "systems": [{"name": "EMR", "exported": [{"category": "name", "items": {"name": "Phạm Minh Anh"}}]}]}
    pdf = report_pdf.render(result, language="ko", clinic="동의", zone=ZoneInfo("Asia/Seoul"),
                            now=datetime(2026, 12, 5, tzinfo=UTC), fonts=report_pdf.Fonts.find())
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert "\x00" not in text and "• 이름: Phạm Minh Anh" in text
