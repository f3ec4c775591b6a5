"""The dashboard in a real Chromium: signing in by keyboard alone, labelled fields, and every
page readable on a phone (no sideways scrolling), with nothing loaded from another host."""

from __future__ import annotations

from urllib.parse import urlsplit

from tests.browser_support import PHONE, browser, context_options, record_requests  # noqa: F401
from tests.dashboard.conftest import STAFF_PASSWORD
from tests.dsr.factories import child_request, file

UNLABELLED = """() => [...document.querySelectorAll('input, select, textarea')]
    .filter(e => e.type !== 'hidden' && e.type !== 'submit')
    .filter(e => e.labels.length === 0 && !e.getAttribute('aria-label') && !e.getAttribute('aria-labelledby'))
    .map(e => e.name || e.id)"""
NO_SIDEWAYS_SCROLL = "document.documentElement.scrollWidth <= window.innerWidth"


async def test_staff_sign_in_by_keyboard_and_every_page_fits_a_phone(dash, browser):
    opened = await file(dash, child_request())
    context = await browser.new_context(**context_options(**PHONE))
    page = await context.new_page()
    requests = record_requests(page)
    base = str(dash.dsr.base_url).rstrip("/")
    try:
        await page.goto(f"{base}/dashboard/?lang=en")
        await page.locator("#username:focus").wait_for()  # autofocus: the keyboard starts there
        await page.keyboard.type("lee")
        await page.keyboard.press("Tab")
        await page.keyboard.type(STAFF_PASSWORD)
        await page.keyboard.press("Enter")
        await page.get_by_text(opened["reference"]).first.wait_for()  # the queue, signed in

        for path in ("/dashboard/", f"/dashboard/requests/{opened['request_id']}",
                     f"/dashboard/subjects/{opened['subject_id']}", "/dashboard/policies/privacy-notice",
                     "/dashboard/inbox", "/dashboard/systems"):
            await page.goto(base + path)
            assert await page.evaluate(NO_SIDEWAYS_SCROLL), f"{path} scrolls sideways on a phone"
            assert await page.evaluate(UNLABELLED) == [], f"{path} has fields without a label"
    finally:
        await context.close()
    hosts = {urlsplit(url).netloc for url in requests}
    assert hosts == {urlsplit(base).netloc}
