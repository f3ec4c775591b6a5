"""Issue 5's acceptance flow, end to end in a real headless Chromium against the real services.

A mother files an access request for her child in Vietnamese on the portal; staff record the
verification on the dashboard; the privacy manager approves; the example clinic systems (EMR,
website, CRM) answer their tasks over the real broker; the mother opens her private link in a
fresh browser and reads the result in Vietnamese. No page loads anything from another host.

Issue 21's walk: she opens the link in a new browser on a phone set to Korean (locale and
Accept-Language) and reads her child's records in Vietnamese, the language she filed in, grouped by
system and category, without the page scrolling sideways; then she downloads the PDF, whose text
holds the records and the Vietnamese headings; the language switch still gives the page and the
report in Korean. No code (snake_case) shows on the result page or in the report, in either language.

With ``DONGUI_SCREENSHOTS`` set (e.g. to ``docs/screenshots``) the queue, the completed request
page, the result on the phone (``portal-result-vi.png``, ``portal-result-ko.png``) and the report's
first page (``report-vi.png``, ``report-ko.png``, with pypdfium2 installed: ``pip install
pypdfium2``) are saved there, the four for the README reduced to a few colours.
"""

from __future__ import annotations

import io
import re
import time
import warnings
from pathlib import Path

from pypdf import PdfReader

from tests.browser_support import PHONE, context_options
from tests.dashboard.conftest import MANAGER_PASSWORD, STAFF_PASSWORD
from tests.portal.test_browser import SCREENSHOTS, at, focused, shot, tab, type_guardians_access_request

CHILD = "patient-2002"  # in the example systems' sample data: Phạm Minh Anh, born 2016-05-05
#: A code where words belong (treatment_records, birth_date…): never on the result page or in the report.
CODE = re.compile(r"\b[a-z]+(?:_[a-z]+)+\b")

#: The records each system returned, as the page groups them: per system (its name), per category
#: (its heading), each record's label and value pairs.
RECORDS = """() => [...document.querySelectorAll("#result section.found")].map(system => ({
  system: system.querySelector("h4").innerText,
  categories: [...system.querySelectorAll("h5")].map(heading => {
    const records = [];
    for (let el = heading.nextElementSibling; el && el.matches("dl.record"); el = el.nextElementSibling)
      records.push(Object.fromEntries([...el.querySelectorAll("dt")].map(dt => [dt.innerText, dt.nextElementSibling.innerText])));
    return [heading.innerText, records];
  }),
}))"""


def optimise(path: Path) -> None:
    """A README picture at a few colours: text on flat colours, a third of the size, no visible loss
    (Pillow comes with fpdf2)."""
    from PIL import Image

    with Image.open(path) as image:
        reduced = image.convert("RGB").quantize(64, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    reduced.save(path, optimize=True)


async def result_shot(page, name: str) -> None:
    """The result on the phone (with ``DONGUI_SCREENSHOTS``): the page's full width, from the
    result's heading to the end of the records."""
    if not SCREENSHOTS:
        return
    top, bottom = await page.evaluate("""() => [
        document.querySelector("#result").getBoundingClientRect().top + scrollY,
        [...document.querySelectorAll("#result section.found")].pop().getBoundingClientRect().bottom + scrollY]""")
    path = Path(SCREENSHOTS) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    clip = {"x": 0, "y": max(top - 12, 0), "width": PHONE["viewport"]["width"], "height": bottom - top + 24}
    await page.screenshot(path=str(path), full_page=True, clip=clip)
    optimise(path)


def pdf_shot(pdf: bytes, name: str) -> None:
    """The report's first page as a PNG for the README (with ``DONGUI_SCREENSHOTS``); pypdfium2
    rasterises it, installed by hand when the screenshots are made, never needed by the test."""
    if not SCREENSHOTS:
        return
    try:
        import pypdfium2
    except ImportError:
        warnings.warn(f"{name} not made: pip install pypdfium2 to rasterise the report", stacklevel=2)
        return
    path = Path(SCREENSHOTS) / name
    pypdfium2.PdfDocument(pdf)[0].render(scale=1.4).to_pil().save(path)
    optimise(path)


def pdf_text(pdf: bytes) -> str:
    """The report's text, whitespace (line breaks too) made single spaces."""
    return " ".join(" ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(pdf)).pages)


async def new_page(browser, contexts: list, urls: list[str], **options):
    context = await browser.new_context(**context_options(**options))
    context.on("request", lambda request: urls.append(request.url))
    contexts.append(context)
    return await context.new_page()


async def sign_in(page, stack, username: str, password: str) -> None:
    await page.goto(at(stack, "/dashboard/signin"))
    await page.locator("#username:focus").wait_for()  # autofocus (applied once the page has loaded)
    assert await focused(page) == "username"
    await page.keyboard.type(username)
    await tab(page, "password")
    await page.keyboard.type(password)
    await page.keyboard.press("Enter")
    await page.wait_for_url(at(stack, "/dashboard/"))


async def test_a_guardians_access_request_from_the_portal_to_the_result(dash, clinic, browser):
    await clinic()  # EMR, website and CRM running and registered
    base = at(dash, "")
    urls: list[str] = []
    contexts: list = []
    try:
        # 1. The mother files for her daughter, in Vietnamese, by keyboard.
        guardian = await new_page(browser, contexts, urls)
        await guardian.goto(at(dash, "/portal/?lang=vi"))
        assert await guardian.get_attribute("html", "lang") == "vi"
        await type_guardians_access_request(guardian, child="Phạm Minh Anh", subject_id=CHILD)
        await guardian.keyboard.press("Enter")
        await guardian.wait_for_selector("#reference")
        assert "Yêu cầu của bạn đã được tiếp nhận" in await guardian.inner_text("h1")
        reference = await guardian.inner_text("#reference")
        link = await guardian.input_value("#private-link")  # she keeps it
        assert link.startswith(base + "/portal/r/") and "#t=" in link
        token = link.split("#t=", 1)[1]

        # 2a. Staff (이서준, "lee") sign in, find it in the queue and record the verification.
        staff = await new_page(browser, contexts, urls)
        await sign_in(staff, dash, "lee", STAFF_PASSWORD)
        row = staff.locator(f'tr[data-reference="{reference}"]')
        assert await row.locator("td[data-status]").get_attribute("data-status") == "verifying"
        assert "본인 확인 중" in await row.inner_text() and "✓" in await row.inner_text()  # a guardian's request
        await shot(staff, "dashboard-queue.png")
        await row.get_by_role("link", name=reference).click()
        await staff.wait_for_selector("#verification")
        request_page = staff.url
        assert "Phạm Minh Anh" in await staff.inner_text("main")
        await staff.select_option("#method", "mobile_phone")
        await staff.fill("#evidence_ref", "PASS-2002 (mẹ: giấy khai sinh)")
        await staff.check("#representative_checked")
        await staff.click("#verification button[type=submit]")
        await staff.wait_for_selector("#decision")
        assert await staff.get_attribute("#status", "data-status") == "in_review"
        assert await staff.is_disabled("#decision button[type=submit]")  # staff cannot decide

        # 2b. The privacy manager (김지은, "kim") signs in and approves.
        manager = await new_page(browser, contexts, urls)
        await sign_in(manager, dash, "kim", MANAGER_PASSWORD)
        await manager.goto(request_page)
        assert "PASS-2002" in await manager.inner_text("#h-ver + p")
        assert await manager.is_checked("#decision-approve")
        await manager.fill("#d-note", "Giấy khai sinh đã kiểm tra")
        await manager.click("#decision button[type=submit]")
        await manager.wait_for_selector("#decision", state="detached")

        # 3. The fan-out: the example systems answer over the broker. Reload until completed.
        deadline = time.monotonic() + 30
        while (status := await manager.get_attribute("#status", "data-status")) != "completed":
            assert status in ("approved", "in_progress"), status
            assert time.monotonic() < deadline, f"still {status!r} after 30 s"
            await manager.wait_for_timeout(300)
            await manager.goto(request_page)  # the clean URL, without the "saved" notice
        tasks = await manager.inner_text("#h-tasks + .table-wrap")
        assert all(system in tasks for system in ("emr", "website", "crm"))
        # The result in the staff's words (a Korean session): categories named, not coded.
        result_section = await manager.inner_text("section[aria-labelledby=h-result]")
        assert "진료기록" in result_section and not CODE.findall(result_section), CODE.findall(result_section)
        audit = await manager.inner_text("#h-audit + .table-wrap")
        assert "직원: lee" in audit and "개인정보 보호책임자: kim" in audit
        await shot(manager, "dashboard-request.png")

        # 4. She opens her private link on her phone, set to Korean: the page is in Vietnamese, the
        #    language she filed in, and she reads her daughter's records there, then the PDF.
        later = await new_page(browser, contexts, urls, locale="ko-KR", accept_downloads=True, **PHONE)
        opened = await later.goto(link)
        assert (await opened.request.header_value("accept-language")).startswith("ko")  # the phone asks for Korean
        await later.wait_for_selector("#result")
        assert await later.get_attribute("html", "lang") == "vi"
        assert await later.inner_text("#reference") == reference
        assert "Đã hoàn tất" in await later.inner_text("#status")
        result = await later.inner_text("#result")
        assert "Thông tin tìm thấy ở từng hệ thống" in result  # what each system found
        assert not CODE.findall(result), CODE.findall(result)
        # Her records, grouped as the page shows them: the EMR alone holds any (named in the words it
        # registered), in four categories named in words, each field labelled in words, dates as
        # Vietnamese writes them, the values as the EMR holds them.
        (emr,) = await later.evaluate(RECORDS)
        assert emr["system"] == "Hồ sơ bệnh án điện tử"
        records = dict(emr["categories"])
        assert list(records) == ["họ tên", "số điện thoại", "hồ sơ khám chữa bệnh", "đơn thuốc"]
        assert records["họ tên"] == [{"họ tên": "Phạm Minh Anh", "ngày sinh": "ngày 5 tháng 5 năm 2016"}]
        assert records["số điện thoại"] == [{"người giám hộ": "Nguyễn Thị Lan (mother)", "số điện thoại": "010-3456-7890"}]
        assert records["hồ sơ khám chữa bệnh"] == [{"ngày khám": "ngày 12 tháng 8 năm 2025", "khoa": "Paediatrics",
                                                    "bác sĩ": "정다은", "chẩn đoán": "J06.9 Acute upper respiratory infection"}]
        assert records["đơn thuốc"] == [{"ngày kê đơn": "ngày 12 tháng 8 năm 2025", "thuốc": "Acetaminophen syrup 32 mg/mL",
                                        "liều dùng": "7 mL as needed", "số ngày dùng": "3"}]
        assert await later.inner_text("#holds-nothing") == "Danh sách nhận tin quảng cáo\nThành viên trang web"
        # On the phone the page never scrolls sideways.
        assert await later.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
        assert "#t=" in later.url
        await result_shot(later, "portal-result-vi.png")
        # The report, from the page's button: the same records under the Vietnamese headings.
        async with later.expect_download() as info:
            await later.click("#download-report")
        download = await info.value
        assert download.suggested_filename.endswith(".pdf")
        pdf = Path(await download.path()).read_bytes()
        assert pdf.startswith(b"%PDF-")
        text = pdf_text(pdf)
        for words in ("Báo cáo kết quả yêu cầu về dữ liệu cá nhân", f"Số tham chiếu: {reference}",
                      "Yêu cầu: Xem dữ liệu của tôi", "Tình trạng: Đã hoàn tất",
                      "Thông tin tìm thấy ở từng hệ thống", "Hồ sơ bệnh án điện tử",
                      "họ tên: Phạm Minh Anh, ngày sinh: ngày 5 tháng 5 năm 2016",
                      "hồ sơ khám chữa bệnh", "chẩn đoán: J06.9 Acute upper respiratory infection",
                      "đơn thuốc", "thuốc: Acetaminophen syrup 32 mg/mL",
                      "Các hệ thống không lưu thông tin nào", "Thời hạn lưu và căn cứ", "Đã cung cấp cho",
                      "Nếu bạn không đồng ý"):
            assert words in text, words
        assert not CODE.findall(text), CODE.findall(text)
        pdf_shot(pdf, "report-vi.png")
        # The language switch still works: the same link in Korean, and its report.
        await later.goto(link.replace("#t=", "?lang=ko#t="))
        await later.wait_for_selector("#result")
        assert await later.get_attribute("html", "lang") == "ko"
        result = await later.inner_text("#result")
        assert "각 시스템에서 찾은 정보" in result and "진료기록" in result and "J06.9" in result
        assert not CODE.findall(result), CODE.findall(result)
        assert await later.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
        await result_shot(later, "portal-result-ko.png")
        async with later.expect_download() as info:
            await later.click("#download-report")
        pdf = Path(await (await info.value).path()).read_bytes()
        text = pdf_text(pdf)
        for words in ("개인정보 요청 결과 보고서", "각 시스템에서 찾은 정보", "진료기록", "Phạm Minh Anh", "J06.9"):
            assert words in text, words
        assert not CODE.findall(text), CODE.findall(text)
        pdf_shot(pdf, "report-ko.png")

        # Nothing anywhere but the test's own server; the token never travelled in a URL.
        assert urls
        assert all(url.startswith(base + "/") for url in urls), [u for u in urls if not u.startswith(base + "/")]
        assert not any(token in url for url in urls)
    finally:
        for context in contexts:
            await context.close()
