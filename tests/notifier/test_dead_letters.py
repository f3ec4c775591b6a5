"""Every dead letter becomes a notification, however malformed, and the notifier never loops."""

from __future__ import annotations

import json
import uuid

from services.notifier.consumers import DEAD_LETTERS_CONSUMER, DeadLetterConsumer
from services.notifier.settings import Recipient
from shared.events import Topic
from tests.notifier.conftest import PERSONAL, consumer_record, notifier_settings, running_notifier
from tests.support import eventually, processed_to_end, produce, read_to_end, signed

INBOX_ONLY = [Recipient(id="cpo", name="CPO", language="en")]


async def test_any_dead_letter_becomes_a_notification_and_nothing_loops(database_url, kafka_bootstrap):
    ours = [
        # Not even text, no headers at all.
        (None, b"\x00\xff\xfe garbage \x00", []),
        # An empty value (a tombstone), and a reason with NUL bytes and markup in it.
        (b"k", None, [("dongui-dlq-reason", b"bad\x00 <b>input</b>"), ("dongui-dlq-topic", b"consent.inbound"),
                      ("dongui-dlq-partition", b"x"), ("dongui-dlq-offset", b"-"), ("dongui-dlq-at", b"yesterday")]),
        # A binary-mode CloudEvent with personal data, refused by a clinic-side consumer.
        (PERSONAL[0].encode(), json.dumps({"name": PERSONAL[1], "phone": PERSONAL[3]}).encode(),
         [("ce_specversion", b"1.0"), ("ce_id", b"crm-9"), ("ce_source", b"clinic/crm"),
          ("ce_type", b"consent.withdrawn"), ("dongui-dlq-reason", b"unknown purpose"),
          ("dongui-dlq-topic", b"consent.inbound"), ("dongui-dlq-partition", b"0"),
          ("dongui-dlq-offset", b"3"), ("dongui-dlq-consumer", b"consent/inbound")]),
    ]
    await produce(kafka_bootstrap, "privacy.dead-letter", ours)
    # Messages the notifier itself refuses: not JSON; a policy.published with invalid data.
    await produce(kafka_bootstrap, "dsr.events", [(b"k", b"{not json", [])])
    await produce(kafka_bootstrap, "consent.events", [(b"privacy-notice", json.dumps({
        "specversion": "1.0", "id": "bad-policy-1", "source": "dongui/consent", "type": "policy.published",
        "data": {"policy_id": "privacy-notice"}}).encode(), [("content-type", b"application/cloudevents+json")])])

    async with running_notifier(notifier_settings(database_url, kafka_bootstrap, recipients=INBOX_ONLY)) as notifier:
        async def five() -> list | None:
            items = (await notifier.inbox(kind="dead_letter"))["items"]
            return items if len(items) >= 5 else None

        items = await eventually(five, timeout=30)
        # The notifier's own refusals are on the topic once its events group is past a watermark;
        # then, once its dead-letters group is past one, every dead letter before it is handled
        # and whatever that dead-lettered in turn is acknowledged: a loop would show now.
        for topic in ("dsr.events", "consent.events"):
            await processed_to_end(kafka_bootstrap, "dongui-notifier-events", topic)
        await processed_to_end(kafka_bootstrap, "dongui-notifier-dead-letters", "privacy.dead-letter")
        told = (await notifier.inbox(kind="dead_letter"))["items"]
        # The watermarks (one a partition) are dead letters like any other, and told as such:
        # besides them, the five and nothing more.
        marks = [i for i in told if i["facts"].get("source") == "tests/watermark"]
        assert marks and len(told) - len(marks) == 5
        on_topic = await read_to_end(kafka_bootstrap, "privacy.dead-letter")

    # Three of ours, and the notifier's own two refusals: nothing more, ever.
    assert len(on_topic) == 5
    consumers = sorted(dict(m.headers).get("dongui-dlq-consumer", b"").decode() for m in on_topic)
    assert consumers == ["", "", "consent/inbound", "notifier/events", "notifier/events"]
    facts = [i["facts"] for i in items]
    by_reason = {f["reason"]: f for f in facts}
    assert "no reason was given" in by_reason
    assert by_reason["unknown purpose"]["source"] == "clinic/crm"
    assert by_reason["unknown purpose"]["event_type"] == "consent.withdrawn"
    assert (by_reason["unknown purpose"]["topic"], by_reason["unknown purpose"]["offset"]) == ("consent.inbound", 3)
    odd = next(f for f in facts if f["reason"].startswith("bad"))
    assert "\x00" not in odd["reason"] and odd["partition"] is None and odd["offset"] is None
    own = [f for f in facts if f["consumer"] == "notifier/events"]
    assert {f["topic"] for f in own} == {"dsr.events", "consent.events"}
    assert any("not JSON" in f["reason"] for f in own)
    assert any("policy.published" in f["reason"] and f["source"] == "dongui/consent" for f in own)
    blob = json.dumps(items, ensure_ascii=False)
    assert not any(secret in blob for secret in PERSONAL)


async def test_a_dead_letter_the_handler_cannot_process_is_still_told_never_dead_lettered(
        database_url, kafka_bootstrap):
    async def broken_handler(conn, record) -> None:
        raise RuntimeError("a bug in the notifier")

    async with running_notifier(notifier_settings(database_url, kafka_bootstrap, recipients=INBOX_ONLY,
                                                  run_workers=False)) as notifier:
        runtime = notifier.app.state.runtime
        consumer = DeadLetterConsumer(notifier=notifier.service, name="dead-letters", topics=[Topic.dead_letter],
                                      group_id="test", handler=broken_handler, pool=runtime.pool,
                                      hub=runtime.hub, service="notifier")
        record = consumer_record("privacy.dead-letter", b'{"secret": "%s"}' % PERSONAL[1].encode(),
                         [("dongui-dlq-reason", b"original reason"), ("dongui-dlq-consumer", b"consent/inbound")])
        await consumer.process([record])
        await consumer.process([record])  # replayed: still one notification
        [item] = (await notifier.inbox())["items"]
        assert item["kind"] == "dead_letter"
        assert "could not read this dead letter" in item["facts"]["reason"]
        assert item["facts"]["consumer"] == "consent/inbound"
        assert PERSONAL[1] not in json.dumps(item, ensure_ascii=False)
        async with notifier.pool.acquire() as conn:
            assert await conn.fetchval("SELECT count(*) FROM processed_events WHERE consumer = $1",
                                       DEAD_LETTERS_CONSUMER) == 1
    assert await read_to_end(kafka_bootstrap, "privacy.dead-letter") == []  # process() returned: all sent


async def test_what_no_service_signed_is_never_told(database_url, kafka_bootstrap):
    """consent.events, dsr.events and privacy.dead-letter are written by the services alone
    (shared/servicesig.py): a record there that no service signed, or that a clinic system signed
    with its own key, is dead-lettered (events) or ignored (dead letters: never a loop), and never
    reaches the privacy manager's inbox. The same record signed by the services is told."""
    reason = b"forged-" + uuid.uuid4().hex.encode()
    letter = (b"k", b"forged", [("dongui-dlq-reason", reason), ("dongui-dlq-topic", b"consent.inbound")])
    await produce(kafka_bootstrap, "privacy.dead-letter", [letter, signed("privacy.dead-letter", letter)],
                  as_services=False)
    policy = json.dumps({"specversion": "1.0", "id": str(uuid.uuid4()), "source": "dongui/consent",
                         "type": "policy.published", "data": {"policy_id": "privacy-notice"}}).encode()
    await produce(kafka_bootstrap, "consent.events", [(b"forged-event", policy, [])], as_services=False)
    await produce(kafka_bootstrap, "dsr.events", [(b"forged-event", b"{}", [])], as_services=False)
    await produce(kafka_bootstrap, "privacy.dead-letter", [(b"k", b"genuine", [("dongui-dlq-reason", reason + b"-ok")])])

    async with running_notifier(notifier_settings(database_url, kafka_bootstrap, recipients=INBOX_ONLY)) as notifier:
        for topic in ("dsr.events", "consent.events"):
            await processed_to_end(kafka_bootstrap, "dongui-notifier-events", topic)
        await processed_to_end(kafka_bootstrap, "dongui-notifier-dead-letters", "privacy.dead-letter")
        told = [i["facts"].get("reason", "") for i in (await notifier.inbox(kind="dead_letter"))["items"]]
        on_topic = await read_to_end(kafka_bootstrap, "privacy.dead-letter")

    assert reason.decode() + "-ok" in told and reason.decode() not in told, told
    refused = {m.key: dict(m.headers) for m in on_topic if m.key == b"forged-event"}
    assert len([m for m in on_topic if m.key == b"forged-event"]) == 2
    for headers in refused.values():
        assert headers["dongui-dlq-reason"].startswith(b"not signed by the services"), headers
    # The notifier's own dead letters are signed by it (so that it tells them), and it tells them.
    assert all(any(k == "dongui-service-signature" for k, _ in m.headers) for m in on_topic if m.key == b"forged-event")
