"""The requester is told, in their language, by the channel they gave, beside the real request
service: received (and so acknowledged), extended with its ground, refused with the remedies, the
result ready with their private link; by email at a real SMTP server, by SMS through the logging
sender; and nothing else. The notifier keeps no address; staff hear when a requester could not be
told, and when Vietnam's acknowledgement is overdue."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from services.notifier.settings import Recipient
from shared import i18n
from tests.dsr.conftest import stack  # noqa: F401  (the request and consent services, served)
from tests.dsr.factories import file, request_body, verify
from tests.notifier.conftest import SmtpSink, notifier_settings, running_notifier, text_of
from tests.support import MANAGER, STAFF, eventually, processed_to_end

LAN = "lan.tran@example.com"  # a Vietnamese resident, in Vietnamese
SAM = "sam.park@example.com"  # a complaint, in English
BOUNCE = "nobody@bounce.example"  # an address the mail server refuses
GONE = "gone@example.com"  # a request whose personal data is destroyed before it is told again
PHONE = "010-2345-6789"
SECRET_REASON = "the archive of Dr. Choi is in the basement"  # staff's free text: never in a message


class BouncingSink(SmtpSink):
    """The SMTP server refuses one recipient, quoting the address back (as servers do)."""

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        if address == BOUNCE:
            return f"550 5.1.1 <{address}>: mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"


async def test_the_requester_is_told_in_their_language_and_nothing_else(stack, caplog):
    caplog.set_level(logging.INFO, logger="services.notifier.requesters")
    smtp = await BouncingSink().start()
    settings = notifier_settings(
        stack.database_url, stack.bootstrap, tell_requesters=True, dsr_url=str(stack.dsr.base_url),
        recipients=[Recipient(id="cpo", name="CPO", language="en")], smtp_host="127.0.0.1", smtp_port=smtp.port,
        smtp_tls="none", smtp_from="Clinic <privacy@clinic.example>", delivery_max_attempts=2)
    try:
        async with running_notifier(settings) as notifier:
            await _walk(stack, notifier, smtp, caplog)
    finally:
        await smtp.stop()


async def _walk(stack, notifier, smtp: BouncingSink, caplog) -> None:
    lan = await file(stack, request_body(jurisdiction="VN", language="vi", name="Trần Minh An", contact=LAN))
    sam = await file(stack, request_body(type="complaint", language="en", contact=SAM,
                                         details={"complaint": "Marketing texts after I withdrew"}))
    by_phone = await file(stack, request_body(language="ko", contact=PHONE))
    by_post = await file(stack, request_body(jurisdiction="VN", language="vi", contact="12 Sejong-daero, Seoul"))
    bounced = await file(stack, request_body(language="en", contact=BOUNCE))
    forgotten = await file(stack, request_body(language="en", contact=GONE))

    # Received, in each requester's language, with the reference and the deadline.
    received = await eventually(lambda: _mails(smtp, LAN, 1), timeout=30)
    assert lan["reference"] in received[0]["Subject"] and received[0]["Content-Language"] == "vi"
    assert "Chúng tôi đã nhận được yêu cầu của bạn" in received[0]["Subject"]
    assert "Thư này là xác nhận" in text_of(received[0])  # Vietnam's acknowledgement, said
    assert f"#t={lan['token']}" in text_of(received[0])
    # ... and so acknowledged, by email, in the request's audit trail.
    acknowledged = await eventually(lambda: _acknowledged(stack, lan["request_id"]), timeout=30)
    assert acknowledged["acknowledged_via"] == "email"
    assert any(t["actor"] == "notifier:dev-notifier" for t in acknowledged["transitions"])

    # Extended, on a ground, with how to object; refused, with the remedies and their contacts.
    await verify(stack, lan["request_id"], subject_id="patient-7001")
    response = await stack.dsr.post(f"/v1/requests/{lan['request_id']}/extension", headers=MANAGER,
                                    json={"ground": "kr-ext-retrieval", "reason": SECRET_REASON})
    assert response.status_code == 200, response.text
    extended = (await eventually(lambda: _mails(smtp, LAN, 2), timeout=30))[1]
    assert "gia hạn" in extended["Subject"]
    # The law cited as Vietnamese cites it (khoản 4 Điều 41 Nghị định thi hành …).
    cited = i18n.citation("vi", "PIPA Enforcement Decree Art. 41(4)")
    assert cited in text_of(extended) and "phản đối" in text_of(extended)
    response = await stack.dsr.post(f"/v1/requests/{lan['request_id']}/decision", headers=MANAGER, json={
        "decision": "reject", "ground": "kr-access-others", "legal_ground": SECRET_REASON})
    assert response.status_code == 200, response.text
    refused = (await eventually(lambda: _mails(smtp, LAN, 3), timeout=30))[2]
    assert i18n.citation("vi", "PIPA Art. 35(4) 2") in text_of(refused)
    for contact in ("1833-6972", "118", "1301", "182", "baovedlcn.gov.vn"):  # Korea's remedies, and Vietnam's
        assert contact in text_of(refused), contact

    # A complaint answered: the answer is ready, behind the private link (never in the message).
    await verify(stack, sam["request_id"], subject_id="patient-7002")
    response = await stack.dsr.post(f"/v1/requests/{sam['request_id']}/answer", headers=MANAGER,
                                    json={"answer": "We stopped the texts on 3 March."})
    assert response.status_code == 200, response.text
    ready = (await eventually(lambda: _mails(smtp, SAM, 2), timeout=30))[1]
    assert "The answer to your complaint is ready" in ready["Subject"]
    link = f"http://127.0.0.1:8002/portal/r/{sam['request_id']}#t={sam['token']}"
    assert link in text_of(ready) and "We stopped the texts" not in ready.as_string()

    # By SMS (the logging sender): short, the reference and the link, the number masked.
    sent = notifier.app.state.runtime.sms.sent
    await eventually(lambda: _at_least(sent, 1), timeout=30)
    assert sent[0][0] == "…89" and by_phone["reference"] in sent[0][1] and f"#t={by_phone['token']}" in sent[0][1]
    assert by_phone["token"] not in caplog.text and "#t=…" in caplog.text  # the log keeps no private link

    # Its personal data destroyed, a request has no one left to tell: nothing is sent, no error.
    await eventually(lambda: _mails(smtp, GONE, 1), timeout=30)
    async with stack.pool.acquire() as conn:
        await stack.service.destroy_record(conn, await stack.service.load(conn, forgotten["request_id"]))
    asked = await stack.dsr.post(f"/v1/requests/{forgotten['request_id']}/needs", headers=STAFF,
                                 json={"needed": "identity_document"})
    assert asked.status_code == 200, asked.text

    # A refused address: the staff are told, with the reference and never the address.
    not_told = await eventually(lambda: _inbox_kind(notifier, "requester_not_told"), timeout=30)
    assert not_told["reference"] == bounced["reference"]
    # Retrying it tries the message to the requester again (their contact may have been corrected).
    told_id = not_told["facts"]["notification_id"]
    before = await _requester_delivery(notifier, told_id)
    retried = await notifier.client.post(f"/v1/notifications/{not_told['id']}/retry", headers=STAFF)
    assert retried.status_code == 200, retried.text

    async def tried_again():
        again = await _requester_delivery(notifier, told_id)
        return again if again["status"] == "failed" and again["failed_at"] > before["failed_at"] else None

    await eventually(tried_again, timeout=30)

    # Nothing else: every event handled, nothing pending, and exactly these emails.
    await processed_to_end(stack.bootstrap, "dongui-notifier-events", "dsr.events")
    await eventually(lambda: _settled(notifier), timeout=30)
    assert [m["X-Dongui-Kind"] for m in smtp.to(LAN)] == ["requester_received", "requester_extended",
                                                        "requester_rejected"]
    assert [m["X-Dongui-Kind"] for m in smtp.to(SAM)] == ["requester_received", "requester_result_ready"]
    assert [m["X-Dongui-Kind"] for m in smtp.to(GONE)] == ["requester_received"]
    assert len(smtp.messages) == 6
    assert all(SECRET_REASON not in m.as_string() for m in smtp.messages)
    async with notifier.pool.acquire() as conn:
        deliveries = [dict(r) for r in await conn.fetch("SELECT * FROM deliveries WHERE channel = 'requester'")]
        stored = json.dumps([dict(r) for r in await conn.fetch("SELECT * FROM notifications")]
                            + deliveries, default=str, ensure_ascii=False)
    for personal in (LAN, SAM, BOUNCE, GONE, PHONE, "Sejong-daero", "Trần Minh An", lan["token"], sam["token"]):
        assert personal not in stored, personal
    async with notifier.pool.acquire() as conn:
        acknowledgements = await conn.fetch("SELECT status, target FROM deliveries WHERE channel = 'acknowledgement'")
    assert [(a["status"], a["target"]) for a in acknowledgements] == [("sent", "email")]  # Lan's alone: Vietnam's
    statuses = {(d["status"], d["target"]) for d in deliveries}
    assert ("sent", "requester by email") in statuses and ("sent", "requester by sms") in statuses
    assert any(d["status"] == "skipped" and "no email address or phone number" in d["last_error"] for d in deliveries)
    assert any(d["status"] == "skipped" and "personal data was destroyed" in d["last_error"] for d in deliveries)
    assert any(d["status"] == "failed" and "n…@bounce.example" in d["last_error"] for d in deliveries)
    inbox = await notifier.inbox()
    assert not any(i["kind"].startswith("requester_") and i["kind"] != "requester_not_told" for i in inbox["items"])

    # The request filed with a postal address was not told, so not acknowledged: after its 2 working
    # days the privacy manager hears of it, once.
    stack.travel(timedelta(days=5))
    overdue = await eventually(lambda: _inbox_kind(notifier, "acknowledgement_overdue"), timeout=30)
    assert overdue["reference"] == by_post["reference"]
    assert "Acknowledgement overdue" in overdue["title"]


async def _mails(smtp: SmtpSink, address: str, count: int) -> list[Any] | None:
    mails = smtp.to(address)
    return mails if len(mails) >= count else None


async def _acknowledged(stack, request_id: str) -> dict[str, Any] | None:
    view = (await stack.dsr.get(f"/v1/requests/{request_id}", headers=STAFF)).json()
    return view if view["acknowledged_at"] else None


async def _inbox_kind(notifier, kind: str) -> dict[str, Any] | None:
    items = (await notifier.inbox(kind=kind))["items"]
    return items[0] if items else None


async def _requester_delivery(notifier, notification_id: str) -> dict[str, Any]:
    async with notifier.pool.acquire() as conn:
        return dict(await conn.fetchrow("SELECT * FROM deliveries WHERE notification_id = $1::uuid", notification_id))


async def _settled(notifier) -> bool:
    async with notifier.pool.acquire() as conn:
        return await conn.fetchval("SELECT count(*) FROM deliveries WHERE status = 'pending'") == 0


async def _at_least(items: list, count: int) -> bool:
    return len(items) >= count
