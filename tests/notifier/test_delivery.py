"""Reliable delivery: once per event and recipient, retried through an SMTP outage and a restart,
a webhook that keeps failing ends in a recorded, visible, counted failure; STARTTLS with a login."""

from __future__ import annotations

import datetime as dt
import json
import re
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from services.notifier.consumers import dead_letters_handler
from services.notifier.routing import dead_letter_notice
from services.notifier.settings import Recipient
from shared.events import RequestReceived
from tests.notifier.conftest import (
    WEBHOOK_SECRET,
    SmtpSink,
    consumer_record,
    notifier_settings,
    password_authenticator,
    request_message,
    running_notifier,
)
from tests.support import MANAGER, eventually, processed_to_end, produce

CPO = Recipient(id="cpo", name="CPO", language="ko", email="cpo@clinic.example")


def email_settings(database_url, bootstrap, sink: SmtpSink, **overrides):
    values = dict(recipients=[CPO], smtp_host="127.0.0.1", smtp_port=sink.port, smtp_tls="none")
    values.update(overrides)
    return notifier_settings(database_url, bootstrap, **values)


def received(**fields):
    return request_message(RequestReceived, channel="portal", waiting_for=["verification"], **fields)


EVENTS_GROUP = "dongui-notifier-events"  # services/notifier/app.py


async def _nothing_pending(notifier) -> bool:
    """Every delivery of every notification is done with (sent or failed): nothing is on its way."""
    items = (await notifier.inbox())["items"]
    return all(d["status"] != "pending" for item in items for d in item["deliveries"])


async def metric(notifier, channel: str, outcome: str) -> float:
    """The value of dongui_notifier_deliveries_total{channel, outcome} on /metrics."""
    text = (await notifier.client.get("/metrics")).text
    pattern = rf'^dongui_notifier_deliveries_total{{channel="{channel}",outcome="{outcome}"}} (\S+)$'
    found = re.search(pattern, text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


async def test_a_duplicate_event_is_told_and_sent_once(database_url, kafka_bootstrap, smtp):
    message = received()
    # The outbox delivers at least once: the same CloudEvent twice on the topic.
    await produce(kafka_bootstrap, "dsr.events", [message, message])
    async with running_notifier(email_settings(database_url, kafka_bootstrap, smtp)) as notifier:
        await eventually(lambda: _count(smtp.messages, 1))
        # Both copies are handled (the group committed past a watermark behind them) and no
        # delivery is left to send: a second mail would be there by now.
        await processed_to_end(kafka_bootstrap, EVENTS_GROUP, "dsr.events")
        await eventually(lambda: _nothing_pending(notifier))
        inbox = await notifier.inbox()
        assert len(smtp.messages) == 1 and inbox["total"] == 1

        # A consumer that replays a batch hands the same record to the handler again: still once.
        dlq_record = consumer_record("privacy.dead-letter", b"not even json", [("dongui-dlq-reason", b"bad")])
        handler = dead_letters_handler(notifier.service)
        for _ in range(2):
            async with notifier.pool.acquire() as conn, conn.transaction():
                await handler(conn, dlq_record)
        # ...and the unique key holds even without the claim (two replicas racing).
        async with notifier.pool.acquire() as conn, conn.transaction():
            assert await notifier.service.notify(conn, dead_letter_notice(dlq_record)) == []
        await eventually(lambda: _count(smtp.messages, 2))
        await eventually(lambda: _nothing_pending(notifier))
        assert len(smtp.messages) == 2
        assert (await notifier.inbox(kind="dead_letter"))["total"] == 1


async def test_an_smtp_outage_and_a_restart_lose_nothing(database_url, kafka_bootstrap):
    sink = SmtpSink()  # its port is chosen, but nothing listens there yet: the mail server is down
    settings = email_settings(database_url, kafka_bootstrap, sink, delivery_max_attempts=50)
    first, second = received(), received()
    await produce(kafka_bootstrap, "dsr.events", [first])
    async with running_notifier(settings) as notifier:
        retries_before = await metric(notifier, "email", "retry")

        async def retried() -> dict | None:
            items = (await notifier.inbox())["items"]
            delivery = items[0]["deliveries"][0] if items else None
            return delivery if delivery and delivery["attempts"] >= 2 and delivery["status"] == "pending" else None

        delivery = await eventually(retried)
        assert delivery["last_error"] and delivery["next_attempt_at"]
        assert await metric(notifier, "email", "retry") >= retries_before + 1
    # The notifier is stopped: an event arrives meanwhile; then the mail server comes back.
    await produce(kafka_bootstrap, "dsr.events", [second])
    await sink.start()
    try:
        async with running_notifier(settings) as notifier:
            await eventually(lambda: _count(sink.messages, 2), timeout=30)
            await processed_to_end(kafka_bootstrap, EVENTS_GROUP, "dsr.events")
            await eventually(lambda: _nothing_pending(notifier), timeout=30)
            assert len(sink.messages) == 2
            refs = {json.loads(m[1])["data"]["reference"] for m in (first, second)}
            assert {m["Subject"].rsplit(" ", 1)[-1] for m in sink.messages} == refs
            inbox = await notifier.inbox()
            assert inbox["total"] == 2
            assert all(i["deliveries"][0]["status"] == "sent" for i in inbox["items"])
            assert max(i["deliveries"][0]["attempts"] for i in inbox["items"]) >= 2
    finally:
        await sink.stop()


async def test_a_webhook_that_keeps_failing_ends_in_a_recorded_failure(database_url, kafka_bootstrap, receiver):
    # A chat bridge that is not in the inbox: its failure must show there all the same.
    bridge = Recipient(id="chat", name="Chat bridge", language="en", webhook_url=f"{receiver.url}/hooks/broken",
                       webhook_secret=WEBHOOK_SECRET, inbox=False)
    settings = notifier_settings(database_url, kafka_bootstrap, recipients=[bridge], delivery_max_attempts=3)
    message = received()
    await produce(kafka_bootstrap, "dsr.events", [message])
    async with running_notifier(settings) as notifier:
        failed_before = await metric(notifier, "webhook", "failed")

        async def failed() -> dict | None:
            items = (await notifier.inbox(delivery="failed"))["items"]
            return items[0] if items else None

        item = await eventually(failed, timeout=30)
        [delivery] = item["deliveries"]
        assert delivery["status"] == "failed" and delivery["attempts"] == 3
        assert "HTTP 503" in delivery["last_error"] and delivery["failed_at"]
        assert delivery["target"] == f"{receiver.url}/…"  # the path of a webhook URL may be its token
        assert "/hooks/broken" not in delivery["last_error"]
        assert item["recipient"]["id"] == "chat" and item["reference"] == json.loads(message[1])["data"]["reference"]
        assert (await notifier.inbox())["total"] == 1  # visible in the inbox, though the bridge has none
        assert await metric(notifier, "webhook", "failed") == failed_before + 1
        calls = receiver.on("broken")
        assert len(calls) == 3 and all(c.verified for c in calls)
        assert len({c.headers["x-dongui-notification-id"] for c in calls}) == 1

        # The receiver is fixed (here: the recipient's URL corrected); a retry delivers it.
        bridge.webhook_url = f"{receiver.url}/hooks/fixed"
        response = await notifier.client.post(f"/v1/notifications/{item['id']}/retry", headers=MANAGER)
        assert response.status_code == 200 and response.json()["deliveries"][0]["status"] == "pending"
        await eventually(lambda: _count(receiver.on("fixed"), 1))

        async def sent() -> bool:
            got = (await notifier.client.get(f"/v1/notifications/{item['id']}", headers=MANAGER)).json()
            return got["deliveries"][0]["status"] == "sent"

        await eventually(sent)
        assert (await notifier.inbox())["total"] == 0  # delivered now, and not an inbox recipient


async def test_starttls_and_a_login_from_the_settings(database_url, kafka_bootstrap, tmp_path):
    context = _self_signed(tmp_path)
    sink = await SmtpSink(tls_context=context, require_starttls=True, auth_require_tls=True,
                          authenticator=password_authenticator("notifier", "s3cret")).start()
    try:
        settings = email_settings(database_url, kafka_bootstrap, sink, smtp_tls="starttls",
                                  smtp_validate_certs=False, smtp_username="notifier", smtp_password="s3cret")
        await produce(kafka_bootstrap, "dsr.events", [received()])
        async with running_notifier(settings):
            await eventually(lambda: _count(sink.messages, 1), timeout=30)
        assert sink.logins == ["notifier"]
        assert sink.envelopes[0].rcpt_tos == ["cpo@clinic.example"]
    finally:
        await sink.stop()


def _self_signed(directory: Path) -> ssl.SSLContext:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "smtp.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(hours=1)).sign(key, hashes.SHA256()))
    (directory / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                          serialization.PrivateFormat.PKCS8,
                                                          serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(directory / "cert.pem", directory / "key.pem")
    return context


async def _count(items: list, count: int) -> bool:
    return len(items) >= count
