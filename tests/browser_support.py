"""A real headless Chromium for browser tests: Debian's ``chromium`` driven by Playwright.

Import the fixtures into a test package's ``conftest.py``::

    from tests.browser_support import browser, page  # noqa: F401

* ``browser`` (function): a launched :class:`playwright.async_api.Browser`. Open your own
  contexts with ``await browser.new_context(**context_options(...))`` (a phone viewport,
  ``java_script_enabled=False``, a locale…) and close them.
* ``page`` (function): a :class:`~playwright.async_api.Page` in a fresh desktop context
  (1280×900, ``en-US``), closed afterwards.
* ``context_options(**overrides)``: the default context options, for contexts of your own.
* ``PHONE``: context options of a phone (360×740, touch, mobile).
* ``record_requests(page)``: a list that fills with every URL the page requests (to prove that
  nothing is loaded from another host).

The browser is launched per test (about half a second): pytest-asyncio gives every test its own
event loop, and a Playwright browser belongs to the loop that started it. Playwright's own
browser downloads are never used: ``CHROMIUM`` (``/usr/bin/chromium``, or ``DONGUI_CHROMIUM``)
must exist — ``make browser`` installs Debian's package. Missing, the fixture fails (never skips).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("DONGUI_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
PHONE: dict[str, Any] = {"viewport": {"width": 360, "height": 740}, "device_scale_factor": 2,
                         "is_mobile": True, "has_touch": True}


def context_options(**overrides: Any) -> dict[str, Any]:
    options: dict[str, Any] = {"viewport": {"width": 1280, "height": 900}, "locale": "en-US",
                               "timezone_id": "Asia/Seoul", "service_workers": "block"}
    options.update(overrides)
    return options


def record_requests(page: Any) -> list[str]:
    seen: list[str] = []
    page.on("request", lambda request: seen.append(request.url))
    return seen


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"Chromium is not installed at {CHROMIUM}: run `make browser` "
                    f"(apt-get install chromium) or set DONGUI_CHROMIUM.", pytrace=False)
    try:
        from playwright.async_api import async_playwright
    except ImportError:  # pragma: no cover
        pytest.fail("playwright is not installed: pip install -e '.[dev]'", pytrace=False)
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def page(browser: Any) -> AsyncIterator[Any]:
    context = await browser.new_context(**context_options())
    try:
        yield await context.new_page()
    finally:
        await context.close()
