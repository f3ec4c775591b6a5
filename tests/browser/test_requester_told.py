"""The requester opens the link of the email that says their answer is ready, in a real Chromium,
and reads their request in the portal: the private link (token after ``#t=``) from a real SMTP
server's message opens the status page and the answer, in Vietnamese, and the token never travels
in a URL the server sees."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest

from deploy.local_infra import free_port
from services.consent.app import build_app as build_consent
from services.dsr.app import build_app as build_dsr
from services.notifier.settings import Recipient
from tests.browser_support import context_options
from tests.consent.conftest import consent_settings
from tests.dsr.conftest import Stack, dsr_settings
from tests.dsr.factories import file, request_body, verify
from tests.notifier.conftest import SmtpSink, notifier_settings, running_notifier, text_of
from tests.support import MANAGER, Served, eventually, policy_body

LAN = "lan.tran@example.com"
ANSWER = "Chúng tôi đã ngừng gửi tin nhắn quảng cáo từ ngày 3 tháng 3."


@pytest.fixture
async def told(database_url: str, kafka_bootstrap: str) -> AsyncIterator[tuple[Stack, SmtpSink]]:
    """The request and consent services, the request service's public address its own; the
    notifier telling requesters through a real SMTP server."""
    smtp = await SmtpSink().start()
    port = free_port()
    try:
        async with Served(build_consent(consent_settings(database_url, kafka_bootstrap)), free_port()) as consent:
            app = build_dsr(dsr_settings(database_url, kafka_bootstrap, consent.url,
                                         public_url=f"http://127.0.0.1:{port}"))
            async with Served(app, port) as dsr, httpx.AsyncClient(base_url=dsr.url, timeout=30) as dsr_client, \
                    httpx.AsyncClient(base_url=consent.url, timeout=30) as consent_client:
                response = await consent_client.post("/v1/policies", json=policy_body(), headers=MANAGER)
                assert response.status_code == 201, response.text
                settings = notifier_settings(database_url, kafka_bootstrap, tell_requesters=True, dsr_url=dsr.url,
                                             recipients=[Recipient(id="cpo", name="CPO")], smtp_host="127.0.0.1",
                                             smtp_port=smtp.port, smtp_tls="none")
                async with running_notifier(settings):
                    yield Stack(app, dsr_client, consent_client, database_url, kafka_bootstrap), smtp
    finally:
        await smtp.stop()


async def test_the_requester_opens_the_emailed_link_and_reads_the_answer(told, browser):
    stack, smtp = told
    opened = await file(stack, request_body(type="complaint", language="vi", jurisdiction="VN", contact=LAN,
                                            details={"complaint": "Tôi vẫn nhận tin nhắn quảng cáo"}))
    await verify(stack, opened["request_id"], subject_id="patient-8001")
    response = await stack.dsr.post(f"/v1/requests/{opened['request_id']}/answer", headers=MANAGER,
                                    json={"answer": ANSWER})
    assert response.status_code == 200, response.text

    async def ready():
        mails = [m for m in smtp.to(LAN) if m["X-Dongui-Kind"] == "requester_result_ready"]
        return mails[0] if mails else None

    mail = await eventually(ready, timeout=30)
    assert "Đã có câu trả lời cho khiếu nại của bạn" in mail["Subject"] and ANSWER not in mail.as_string()
    base = str(stack.dsr.base_url).rstrip("/")
    link = re.search(re.escape(base) + r"/portal/r/\S+#t=\S+", text_of(mail)).group(0)
    token = link.split("#t=", 1)[1]
    assert token == opened["token"]

    context = await browser.new_context(**context_options(locale="vi-VN"))
    urls: list[str] = []
    context.on("request", lambda request: urls.append(request.url))
    try:
        page = await context.new_page()
        await page.goto(link)
        await page.wait_for_selector("#result")
        assert await page.inner_text("#reference") == opened["reference"]
        assert ANSWER in await page.inner_text("#answer")
        # Told by email that it was received, which acknowledged it (Vietnam's 2 working days).
        assert "đã xác nhận đã nhận" in await page.inner_text("#acknowledge-by")
        assert "#t=" in page.url
    finally:
        await context.close()
    assert urls and all(url.startswith(base + "/") for url in urls)
    assert not any(token in url for url in urls)  # the token stays in the fragment
