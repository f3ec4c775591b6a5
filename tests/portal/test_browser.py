"""The portal in a real headless Chromium: keyboard only, without JavaScript, on a phone."""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path

from tests.browser_support import PHONE, context_options, record_requests
from tests.dsr.factories import approve, file, request_body, verify
from tests.support import random_id

#: Set (for example to docs/screenshots) to save the form and status screenshots there.
SCREENSHOTS = os.environ.get("DONGUI_SCREENSHOTS")


async def shot(page, name: str, selector: str | None = None) -> None:
    """With ``DONGUI_SCREENSHOTS``: the whole page, or only the element ``selector`` finds."""
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        if selector:
            await page.locator(selector).screenshot(path=str(Path(SCREENSHOTS) / name))
        else:
            await page.screenshot(path=str(Path(SCREENSHOTS) / name), full_page=True)


async def focused(page) -> str:
    return await page.evaluate("document.activeElement.name || document.activeElement.id")


async def tab_to(page, target: str, limit: int = 40) -> None:
    for _ in range(limit):
        await page.keyboard.press("Tab")
        if await focused(page) == target:
            return
    raise AssertionError(f"Tab never reached {target}")


async def tab(page, expected: str) -> None:
    await page.keyboard.press("Tab")
    assert await focused(page) == expected


def at(stack, path: str) -> str:
    return str(stack.dsr.base_url).rstrip("/") + path


def only_local(urls: list[str], base: str) -> None:
    assert urls, "the page made no request at all?"
    assert all(url.startswith(base + "/") for url in urls), [u for u in urls if not u.startswith(base)]


async def type_guardians_access_request(page, *, child: str, subject_id: str) -> None:
    """Fill in the portal's form by keyboard alone: a mother asks to see her child's data."""
    await tab_to(page, "type")
    await page.keyboard.press("Space")  # "Xem dữ liệu của tôi" (access)
    await tab(page, "who")
    await page.keyboard.press("ArrowDown")  # parent or guardian
    assert await page.is_checked("#f-who-1")
    await tab(page, "residence")  # Korea, as it is: the clinic's law applies whatever it says
    await tab(page, "requester_name")
    await page.keyboard.type("Nguyễn Thị Lan")
    await tab(page, "relationship_detail")
    await page.keyboard.type("mẹ")
    await tab(page, "name")
    await page.keyboard.type(child)
    await tab(page, "birth_date")
    await page.keyboard.type("2016-05-05")
    await tab(page, "subject_id")
    await page.keyboard.type(subject_id)
    await tab(page, "contact")
    await page.keyboard.type("lan@example.com")


async def test_a_guardian_files_for_a_child_in_vietnamese_by_keyboard_and_follows_it(stack, browser):
    context = await browser.new_context(**context_options(locale="vi-VN"))
    page = await context.new_page()
    urls = record_requests(page)
    response = await page.goto(at(stack, "/portal/"))
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert await page.get_attribute("html", "lang") == "vi"  # from the browser's Accept-Language
    assert not await page.is_visible("#f-requester_name")  # asked only when filing for someone else

    await type_guardians_access_request(page, child="Trần Minh An", subject_id=random_id("patient"))
    assert not await page.is_visible("#f-correction_item")  # only for a correction
    await shot(page, "portal-form.png")
    await page.keyboard.press("Enter")

    await page.wait_for_selector("#reference")
    assert "Yêu cầu của bạn đã được tiếp nhận" in await page.inner_text("h1")
    reference = await page.inner_text("#reference")
    assert reference.startswith("DSR-")
    link = await page.input_value("#private-link")
    assert "/portal/r/" in link and "#t=" in link
    assert "Giấy tờ chứng minh quyền giám hộ" in await page.inner_text("main")

    await tab_to(page, "open-link")
    await page.keyboard.press("Enter")
    await page.wait_for_selector("#status")
    assert await page.inner_text("#reference") == reference
    needs = await page.inner_text("#needs")
    assert "Xác minh danh tính" in needs and "Giấy tờ chứng minh quyền giám hộ" in needs
    assert "Đang xác minh danh tính" in await page.inner_text("#status")
    assert "#t=" in page.url  # the token stayed in the fragment
    await shot(page, "portal-status.png")

    only_local(urls, at(stack, ""))
    token = link.split("#t=", 1)[1]
    assert not any(token in url for url in urls)  # never sent in a URL
    await context.close()


async def test_live_hints_and_errors_as_the_person_types(stack, page):
    await page.goto(at(stack, "/portal/?lang=en"))
    await page.check("#f-type-2")  # erasure
    await page.check("#f-who-0")  # myself
    await page.fill("#f-birth_date", f"{date.today().year - 10}-01-15")
    hint = page.locator("#hint-birth_date")
    assert "under 14" in await hint.inner_text() and "guardian" in await hint.inner_text()
    await page.check("#f-who-2")  # an agent, for a child
    assert "not an agent" in await page.inner_text("#err-who")
    await page.fill("#f-birth_date", "2999-01-01")
    assert await page.inner_text("#err-birth_date") == "A date of birth cannot be in the future."
    assert await page.get_attribute("#f-birth_date", "aria-invalid") == "true"
    assert "err-birth_date" in await page.get_attribute("#f-birth_date", "aria-describedby")
    assert await page.is_hidden("#err-contact")  # not touched yet: no error shown
    await page.click("button[type=submit]")  # stopped in the browser, errors shown, focus on the first
    assert await page.inner_text("#err-contact") == "Please fill this in."
    assert await focused(page) == "requester_name"  # the first field in error, in the page's order
    await page.check("#f-type-1")  # a correction asks what to correct
    assert await page.is_visible("#f-correction_corrected")


async def test_without_javascript_the_server_checks_the_form_and_the_private_link_still_works(stack, browser):
    context = await browser.new_context(**context_options(java_script_enabled=False))
    page = await context.new_page()
    await page.goto(at(stack, "/portal/"))
    assert await page.get_attribute("html", "lang") == "en"
    await page.check("#f-type-0")
    await page.check("#f-who-0")
    await page.fill("#f-birth_date", "2999-01-01")
    await page.fill("#f-contact", "minsu@example.com")
    await page.click("button[type=submit]")

    assert "Please check the following" in await page.inner_text("#error-summary")
    assert await page.inner_text("#err-birth_date") == "A date of birth cannot be in the future."
    assert await page.inner_text("#err-name") == "Please fill this in."
    assert await page.get_attribute("#f-birth_date", "aria-invalid") == "true"
    assert await page.input_value("#f-contact") == "minsu@example.com"  # what was typed is kept
    assert await page.is_hidden("#err-contact")

    await page.fill("#f-name", "Kim Minsu")
    await page.fill("#f-birth_date", "1985-03-02")
    await page.click("button[type=submit]")
    reference = await page.inner_text("#reference")
    link = await page.input_value("#private-link")

    await page.goto(link)  # without JavaScript the page asks for the code
    await page.fill("#f-token", link.split("#t=", 1)[1])
    await page.click("#token-form button[type=submit]")
    assert await page.inner_text("#reference") == reference
    assert "Identity check" in await page.inner_text("#needs")
    await context.close()


async def test_on_a_phone_the_result_is_readable_and_downloadable_and_nothing_scrolls_sideways(stack, browser):
    subject = random_id("patient")
    opened = await file(stack, request_body(language="ko", subject_id=subject))
    await verify(stack, opened["request_id"])
    done = await approve(stack, opened["request_id"])
    assert done["status"] == "completed"  # no clinic system registered: nothing to wait for

    context = await browser.new_context(**context_options(locale="ko-KR", accept_downloads=True, **PHONE))
    page = await context.new_page()
    urls = record_requests(page)
    await page.goto(at(stack, "/portal/"))
    assert await page.get_attribute("html", "lang") == "ko"
    await page.check("#f-type-1")
    await page.check("#f-who-1")  # every conditional section open
    width = "document.documentElement.scrollWidth <= window.innerWidth"
    assert await page.evaluate(width)

    await page.goto(at(stack, f"/portal/r/{opened['request_id']}#t={opened['token']}"))
    await page.wait_for_selector("#result")
    assert "완료" in await page.inner_text("#status")
    assert "각 시스템에서 찾은 정보" in await page.inner_text("#result")
    assert await page.evaluate(width)
    async with page.expect_download() as info:
        await page.click("#download")
    download = await info.value
    report = json.loads(Path(await download.path()).read_text())
    assert report["reference"] == opened["reference"] and report["type"] == "access"
    only_local(urls, at(stack, ""))
    await context.close()
