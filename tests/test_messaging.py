"""The shared outbox relay and consumer, on the real database and broker, without a service."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import timedelta

import asyncpg
from aiokafka import ConsumerRecord
from prometheus_client import REGISTRY

from services.consent.settings import ConsentSettings
from shared.cloudevents import new_event
from shared.consumer import Consumer, Reject, claim
from shared.db import create_pool
from shared.kafka import KafkaHub
from shared.outbox import OutboxRelay, enqueue_event
from tests.support import consume, eventually, processed_to_end, produce, random_id, read_to_end


def settings_for(database_url: str, bootstrap: str) -> ConsentSettings:
    return ConsentSettings(DATABASE_URL=database_url, KAFKA_BOOTSTRAP_SERVERS=bootstrap,
                           KAFKA_SESSION_TIMEOUT_MS=2000, KAFKA_HEARTBEAT_INTERVAL_MS=500,
                           outbox_poll_interval=timedelta(milliseconds=100))


async def _outbox_empty(pool) -> bool:
    async with pool.acquire() as conn:
        return await conn.fetchval("SELECT count(*) FROM outbox") == 0


async def test_two_relays_publish_every_outbox_row_once_unless_a_send_failed(database_url, kafka_bootstrap):
    settings = settings_for(database_url, kafka_bootstrap)
    pool = await create_pool(database_url, "consent")
    hubs = [KafkaHub(settings), KafkaHub(settings)]
    ids = []
    async with pool.acquire() as conn, conn.transaction():
        for i in range(2000):
            event = new_event(source="test", type="test.happened", subject=f"s{i % 40}", data={"n": i})
            ids.append(event.id)
            await enqueue_event(conn, event, topic="test.relay", key=event.subject)
    service = random_id("relay-test")  # its own failure counter
    relays = [OutboxRelay(pool, hub, dsn=database_url, service=service, schema="consent", batch_size=50,
                          poll_interval=0.1) for hub in hubs]
    tasks = [asyncio.create_task(relay.run()) for relay in relays]
    try:
        await consume(kafka_bootstrap, "test.relay", count=2000, timeout=60)
        # The watermark for late duplicates: a row leaves the outbox only after its send was
        # acknowledged, so once it is empty every copy any relay sent is on the topic.
        await eventually(lambda: _outbox_empty(pool))
        messages = await read_to_end(kafka_bootstrap, "test.relay")
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for hub in hubs:
            await hub.close()
    published = [json.loads(m.value)["id"] for m in messages]
    assert set(published) == set(ids), f"{len(set(ids) - set(published))} rows never published"
    # Two relays never take the same rows (FOR UPDATE SKIP LOCKED). A row goes twice only when a
    # send failed (timed out on a loaded machine) and its batch was sent again, some of it already
    # on the topic: at least once, as documented, and the consumers de-duplicate by event id.
    failures = REGISTRY.get_sample_value("dongui_outbox_publish_failures_total", {"service": service}) or 0
    if failures == 0:
        assert len(published) == len(ids), f"{len(published) - len(ids)} duplicates without a failed send"
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM outbox") == 0
    await pool.close()


async def test_a_poison_message_is_dead_lettered_and_the_rest_of_its_batch_applied(database_url, kafka_bootstrap):
    settings = settings_for(database_url, kafka_bootstrap)
    pool = await create_pool(database_url, "consent")
    hub = KafkaHub(settings)

    async def handler(conn: asyncpg.Connection, message: ConsumerRecord) -> None:
        body = json.loads(message.value)
        if body.get("bug"):
            raise ZeroDivisionError("a bug in the handler")  # not a Reject: unexpected
        if body.get("refuse"):
            raise Reject("refused on purpose")
        await claim(conn, "test", body["id"])

    consumer = Consumer(name="t", topics=["test.in"], group_id=random_id("g"), handler=handler,
                        pool=pool, hub=hub, service="test")
    task = asyncio.create_task(consumer.run())
    try:
        good = [{"id": f"ok-{i}"} for i in range(20)]
        await produce(kafka_bootstrap, "test.in", [
            (b"k", json.dumps(m).encode(), []) for m in [*good[:10], {"id": "x", "bug": True}, {"id": "y", "refuse": True}, *good[10:]]
        ])

        async def processed() -> int:
            async with pool.acquire() as conn:
                return await conn.fetchval("SELECT count(*) FROM processed_events WHERE consumer = 'test'")

        await eventually(lambda: _at_least(processed(), 20))
        dead = await consume(kafka_bootstrap, "privacy.dead-letter", count=2)
        reasons = sorted(dict(m.headers)["dongui-dlq-reason"].decode() for m in dead)
        assert reasons[0].startswith("could not be processed: ZeroDivisionError")
        assert reasons[1] == "refused on purpose"
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await hub.close()
        await pool.close()


async def test_a_database_outage_delays_consumption_and_loses_nothing(
    database_url, kafka_bootstrap, postgres_server, caplog
):
    caplog.set_level(logging.WARNING)
    settings = settings_for(database_url, kafka_bootstrap)
    dbname = database_url.rsplit("/", 1)[1]
    pool = await create_pool(database_url, "consent", min_size=1, max_size=2)
    hub = KafkaHub(settings)

    async def handler(conn: asyncpg.Connection, message: ConsumerRecord) -> None:
        await claim(conn, "outage", json.loads(message.value)["id"])

    group = random_id("g")
    consumer = Consumer(name="t", topics=["test.outage"], group_id=group, handler=handler,
                        pool=pool, hub=hub, service="test")
    task = asyncio.create_task(consumer.run())
    admin = await asyncpg.connect(postgres_server.admin_dsn)
    try:
        await produce(kafka_bootstrap, "test.outage", [(b"k", json.dumps({"id": "before"}).encode(), [])])

        async def count() -> int:
            async with pool.acquire() as conn:
                return await conn.fetchval("SELECT count(*) FROM processed_events WHERE consumer = 'outage'")

        await eventually(lambda: _at_least(count(), 1))
        # The database goes away: no new connections, and every open one is cut.
        await admin.execute(f'ALTER DATABASE "{dbname}" ALLOW_CONNECTIONS false')
        await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", dbname)
        await produce(kafka_bootstrap, "test.outage",
                      [(b"k", json.dumps({"id": f"during-{i}"}).encode(), []) for i in range(10)])
        # The outage lasts until the consumer has met it (a batch failed and waits to be replayed),
        # not for a guessed while: what follows then proves that the replay lost nothing.
        await eventually(lambda: _met_the_outage(caplog), timeout=30)
        await admin.execute(f'ALTER DATABASE "{dbname}" ALLOW_CONNECTIONS true')

        await eventually(lambda: _at_least(count(), 11), timeout=60)
        await processed_to_end(kafka_bootstrap, group, "test.outage")
        assert await read_to_end(kafka_bootstrap, "privacy.dead-letter") == []  # not the messages' fault
    finally:
        await admin.execute(f'ALTER DATABASE "{dbname}" ALLOW_CONNECTIONS true')
        await admin.close()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await hub.close()
        await pool.close()


async def _met_the_outage(caplog) -> bool:
    """A batch failed and waits to be replayed, or the consumer itself stopped to start again."""
    return any(r.getMessage().startswith(("consumer t will replay", "consumer t stopped")) for r in caplog.records)


async def _at_least(awaitable, n: int) -> bool:
    return (await awaitable) >= n


async def test_a_batch_writes_the_same_outbox_rows_as_one_at_a_time(database_url):
    """enqueue_many builds envelopes without the CloudEvent model: they must be the very events
    enqueue writes (same attributes, data, headers and order), apart from their ids and times."""
    from datetime import UTC, datetime

    from shared.events import ConsentWithdrawalRecorded, SubjectHoldPlaced
    from shared.outbox import enqueue, enqueue_many

    now = datetime(2026, 3, 1, 9, 30, 0, 120, tzinfo=UTC)
    withdrawn = ConsentWithdrawalRecorded(
        record_id="6c2b9c1e-8c3d-4d52-9d7f-3f3f2a1b0c9d", subject_id="patient-18420", sequence=3,
        purpose="marketing_sms", decision="withdrawn", policy_id="privacy-notice", policy_version="2",
        language="vi", notice_hash="a" * 64, method="kiosk", actor_role="legal_representative",
        jurisdiction="KR", occurred_at=now, recorded_at=now, source="clinic/web 환자", record_hash="b" * 64,
        source_event_id="evt-1")
    hold = SubjectHoldPlaced(subject_id="patient-18420", hold_id="hold-1", request_id="req-1", reason="rectification",
                             placed_at=now)
    pool = await create_pool(database_url, "consent")
    try:
        async with pool.acquire() as conn, conn.transaction():
            for data in (withdrawn, hold):
                await enqueue(conn, data, source="dongui/consent")
            await enqueue_many(conn, [(withdrawn, "dongui/consent"), (hold, "dongui/consent")])
            rows = await conn.fetch("SELECT topic, key, event_id, event_type, value, headers FROM outbox ORDER BY id")
    finally:
        await pool.close()
    one, many = rows[:2], rows[2:]
    for a, b in zip(one, many, strict=True):
        assert (a["topic"], a["key"], a["event_type"], a["headers"]) == (b["topic"], b["key"], b["event_type"],
                                                                         b["headers"])
        ea, eb = json.loads(a["value"]), json.loads(b["value"])
        assert (ea.pop("id"), eb.pop("id")) == (a["event_id"], b["event_id"])
        ea.pop("time"), eb.pop("time")
        assert list(ea) == list(eb) and ea == eb


async def test_a_stray_cancellation_from_a_client_does_not_stop_a_worker_but_a_real_one_does(database_url):
    """aiokafka can let a CancelledError out of a call when the broker goes away; a background
    loop must treat that as one more failure, and still stop when it is itself cancelled."""
    from shared.loops import run_woken

    calls = 0

    async def step() -> bool:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise asyncio.CancelledError()  # as if from inside a client, nobody cancelled the task
        return False

    task = asyncio.create_task(run_woken(step, name="test loop", dsn=database_url, channel="test_stray",
                                         poll_interval=0.05))
    async def stepped_on() -> bool:
        return calls >= 3

    await eventually(stepped_on, timeout=10)
    assert not task.done()
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    assert task.cancelled()


async def test_a_loop_stops_even_when_a_call_inside_it_swallowed_its_cancellation(database_url):
    """asyncio.wait_for on Python 3.11 can return its inner result instead of raising the
    cancellation that arrived as that finished (python/cpython#86296): the loops still stop, at
    their next turn, instead of running on past a shutdown."""
    from shared.loops import run_every, run_woken

    entered = asyncio.Event()

    async def swallowing() -> bool:
        entered.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            pass  # what such a wait_for does: the call returns, nothing is raised
        return False

    for loop in (run_woken(swallowing, name="test loop", dsn=database_url, channel="test_swallowed",
                           poll_interval=0.05),
                 run_every(swallowing, name="test loop", interval=0.05)):
        entered.clear()
        task = asyncio.create_task(loop)
        await asyncio.wait_for(entered.wait(), timeout=10)
        task.cancel()
        done, _ = await asyncio.wait([task], timeout=5)
        assert done, "the loop ran on after its cancellation was swallowed"
        assert task.cancelled()
