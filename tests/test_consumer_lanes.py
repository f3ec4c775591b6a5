"""Consumer lanes (``shared.consumer.Consumer(lanes=…)``): batches of different partitions handled
at once, each in its own transaction, on the real database and broker."""

from __future__ import annotations

import asyncio
import json
from collections import Counter, defaultdict

import asyncpg
from aiokafka import ConsumerRecord

from shared.consumer import Consumer, claim
from shared.db import create_pool
from shared.kafka import KafkaHub
from tests.support import WATERMARK_HEADER, eventually, processed_to_end, produce, random_id
from tests.test_messaging import settings_for

KEYS = [f"subject-{n}".encode() for n in range(12)]
PER_KEY = 25


class Recording(Consumer):
    """Counts the batches in flight at once; optionally fails the first batch of one partition
    (as an outage would: before anything of it is written)."""

    def __init__(self, *, fail_partition: int | None = None, **options) -> None:
        super().__init__(**options)
        self.in_flight = 0
        self.most_in_flight = 0
        self.fail_partition = fail_partition
        self.failed = 0

    async def process(self, records: list[ConsumerRecord]) -> None:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if self.fail_partition is not None and not self.failed and \
                    any(r.partition == self.fail_partition for r in records):
                self.failed += 1
                await asyncio.sleep(0.05)
                raise ConnectionResetError("the database went away (test)")
            await asyncio.sleep(0.01)  # let the other lanes' batches start meanwhile
            await super().process(records)
        finally:
            self.in_flight -= 1


async def _run(database_url: str, kafka_bootstrap: str, *, fail_partition: int | None = None):
    settings = settings_for(database_url, kafka_bootstrap)
    pool = await create_pool(database_url, "consent")
    hub = KafkaHub(settings)
    topic = random_id("test.lanes")
    group = random_id("g")
    seen: list[tuple[int, int, bytes, int]] = []  # (partition, offset, key, n) in handling order
    consumer_name = random_id("lanes")
    calls: Counter = Counter()  # (partition, offset) -> times handed to the handler, replays included

    async def handler(conn: asyncpg.Connection, message: ConsumerRecord) -> None:
        if any(k == WATERMARK_HEADER for k, _ in message.headers or ()):
            return  # the test's own mark (processed_to_end), not one of the messages under test
        body = json.loads(message.value)
        calls[(message.partition, message.offset)] += 1
        if await claim(conn, consumer_name, body["id"]):
            seen.append((message.partition, message.offset, message.key, body["n"]))

    def consumer(**extra) -> Recording:
        return Recording(name="t", topics=[topic], group_id=group, handler=handler, pool=pool, hub=hub,
                         service="test", batch_max=7, lanes=3, **extra)

    await hub.ensure_topics([topic])
    await produce(kafka_bootstrap, topic, [
        (key, json.dumps({"id": f"{key.decode()}-{n}", "n": n}).encode(), [])
        for n in range(PER_KEY) for key in KEYS
    ])
    first = consumer(fail_partition=fail_partition)
    task = asyncio.create_task(first.run())
    try:
        await eventually(lambda: _true(len(seen) >= len(KEYS) * PER_KEY), timeout=60)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    # Every offset was committed: a new member of the group finds nothing left to handle. It has
    # looked once it committed past a watermark written behind every message of the test.
    handled = len(seen)
    again = consumer()
    task = asyncio.create_task(again.run())
    try:
        await processed_to_end(kafka_bootstrap, group, topic, timeout=60)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await hub.close()
        await pool.close()
    return first, seen, handled, calls


async def _true(value: bool) -> bool:
    return value


def _assert_each_key_in_order_once(seen) -> None:
    by_key: dict[bytes, list[int]] = defaultdict(list)
    for _, _, key, n in seen:
        by_key[key].append(n)
    assert set(by_key) == set(KEYS)
    for key, ns in by_key.items():
        assert ns == list(range(PER_KEY)), key  # in order, none twice, none missing
    assert max(Counter((p, o) for p, o, _, _ in seen).values()) == 1


async def test_lanes_handle_partitions_at_once_each_in_order_and_every_message_once(database_url, kafka_bootstrap):
    consumer, seen, handled, calls = await _run(database_url, kafka_bootstrap)
    _assert_each_key_in_order_once(seen)
    assert set(calls.values()) == {1}
    assert consumer.most_in_flight > 1  # batches of different partitions were in flight together
    assert len(seen) == handled  # nothing handled again by the next member: offsets committed


async def test_a_failed_lane_replays_its_partition_and_the_others_go_on(database_url, kafka_bootstrap):
    consumer, seen, handled, calls = await _run(database_url, kafka_bootstrap, fail_partition=1)
    assert consumer.failed == 1
    _assert_each_key_in_order_once(seen)
    # The failed batch wrote nothing and was handed over once, when replayed; the other lanes'
    # batches were neither stopped nor handed over again.
    assert set(calls.values()) == {1}
    assert {p for p, _, _, _ in seen} == {0, 1, 2}
    assert len(seen) == handled


class Holding(Consumer):
    """Holds its first batch until ``release`` is set: a rebalance can take partitions meanwhile."""

    def __init__(self, **options) -> None:
        super().__init__(**options)
        self.release = asyncio.Event()
        self.holding = asyncio.Event()

    async def process(self, records: list[ConsumerRecord]) -> None:
        if not self.holding.is_set():
            self.holding.set()
            await self.release.wait()
        await super().process(records)


async def test_a_replica_joining_mid_batch_takes_partitions_without_restarting_the_first(
        database_url, kafka_bootstrap, caplog) -> None:
    """Found on Apache Kafka: the first replica committed the offsets of a batch whose partitions a
    rebalance had given the second meanwhile; aiokafka refused (IllegalStateError, not a
    CommitFailedError) and the consumer restarted, rebalancing the group once more."""
    settings = settings_for(database_url, kafka_bootstrap)
    pool = await create_pool(database_url, "consent")
    hub = KafkaHub(settings)
    topic, group = random_id("test.rebalance"), random_id("g")

    async def handler(conn: asyncpg.Connection, message: ConsumerRecord) -> None:
        if not any(k == WATERMARK_HEADER for k, _ in message.headers or ()):
            await claim(conn, "rebalance", json.loads(message.value)["id"])

    def replica(kind: type[Consumer]) -> Consumer:
        return kind(name="t", topics=[topic], group_id=group, handler=handler, pool=pool, hub=hub,
                    service="test", batch_max=500, lanes=1)

    await hub.ensure_topics([topic])
    await produce(kafka_bootstrap, topic, [(key, json.dumps({"id": f"{key.decode()}-{n}"}).encode(), [])
                                           for n in range(5) for key in KEYS], together=True)
    first = replica(Holding)
    assert isinstance(first, Holding)
    tasks = [asyncio.create_task(first.run())]
    try:
        await asyncio.wait_for(first.holding.wait(), timeout=60)
        second = replica(Consumer)
        tasks.append(asyncio.create_task(second.run()))
        # The group rebalances around the held batch: the second replica is given partitions.
        await eventually(lambda: _true(bool(second._consumer and second._consumer.assignment())), timeout=60)
        first.release.set()
        await processed_to_end(kafka_bootstrap, group, topic, timeout=60)
        # Each handled in a transaction that committed once (a replica that lost a partition
        # mid-batch may have handled some of it too: the claim keeps one).
        async with pool.acquire() as conn:
            handled = await conn.fetchval("SELECT count(*) FROM processed_events WHERE consumer = 'rebalance'")
        assert handled == len(KEYS) * 5
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await hub.close()
        await pool.close()
    restarts = [r for r in caplog.records if "consumer t stopped" in r.getMessage()]
    assert not restarts, restarts[0].getMessage()
