"""The dashboard in a real Chromium: signing in by keyboard alone, labelled fields, and every
page readable on a phone (no sideways scrolling), with nothing loaded from another host."""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import urlsplit

from tests.browser_support import PHONE, browser, context_options, record_requests  # noqa: F401
from tests.dashboard.conftest import STAFF_PASSWORD
from tests.dsr.factories import child_request, file
from tests.support import STAFF

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
                     "/dashboard/inbox", "/dashboard/systems", "/dashboard/breaches"):
            await page.goto(base + path)
            assert await page.evaluate(NO_SIDEWAYS_SCROLL), f"{path} scrolls sideways on a phone"
            assert await page.evaluate(UNLABELLED) == [], f"{path} has fields without a label"
    finally:
        await context.close()
    hosts = {urlsplit(url).netloc for url in requests}
    assert hosts == {urlsplit(base).netloc}


async def test_staff_record_a_suspected_breach_in_the_form_and_land_on_its_clock(dash, browser):
    """The breach form filled as a person would, on a phone: the 72 hours start at the moment of
    discovery, and the breach's page (clock, drafts, the forms) fits the screen, every field labelled."""
    context = await browser.new_context(**context_options(**PHONE))
    page = await context.new_page()
    base = str(dash.dsr.base_url).rstrip("/")
    try:
        await page.goto(f"{base}/dashboard/breaches?lang=en")
        await page.locator("#username").fill("lee")
        await page.locator("#password").fill(STAFF_PASSWORD)
        await page.keyboard.press("Enter")
        await page.locator("#record").wait_for()  # back on the breaches page, signed in
        await page.goto(f"{base}/dashboard/breaches?lang=en")
        await page.get_by_role("heading", name="Record a suspected breach").wait_for()
        await page.get_by_label("What happened").fill("A reservations printout was left at the front desk overnight.")
        # The moment of discovery is filled in with now; it was found two hours ago.
        found = (dash.service.clock() - timedelta(hours=2)).astimezone(dash.service.zone)
        await page.get_by_label("When it was discovered").fill(found.strftime("%Y-%m-%dT%H:%M"))
        await page.get_by_label("Number of people affected").fill("37")
        await page.get_by_label("name", exact=True).check()
        await page.get_by_label("phone number").check()
        await page.get_by_label("Cause", exact=True).select_option("lost_or_stolen")
        await page.get_by_label("investigating").check()
        await page.get_by_role("button", name="Record and start the 72 hours").click()

        await page.locator("#clock").wait_for()
        assert "/dashboard/breaches/" in page.url and "done=record" in page.url
        assert await page.evaluate(NO_SIDEWAYS_SCROLL), "the breach's page scrolls sideways on a phone"
        assert await page.evaluate(UNLABELLED) == [], "the breach's page has fields without a label"
        assert "the people" in await page.locator("#outstanding").inner_text()
        assert "Notice of a leak of your personal information" in await page.locator("#notice").inner_text()
    finally:
        await context.close()
    [breach] = (await dash.dsr.get("/v1/breaches", headers=STAFF)).json()
    assert breach["subject_count"] == 37 and breach["data_categories"] == ["name", "contact"]
    found_at = datetime.fromisoformat(breach["discovered_at"])
    assert datetime.fromisoformat(breach["notify_by"]) == found_at + timedelta(hours=72)
    assert found_at.astimezone(dash.service.zone).strftime("%Y-%m-%dT%H:%M") == found.strftime("%Y-%m-%dT%H:%M")
