"""The test infrastructure itself: real, isolated PostgreSQL databases and Kafka brokers."""

from __future__ import annotations

import asyncio
import socket
import uuid
from typing import TYPE_CHECKING

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

if TYPE_CHECKING:
    from tests.conftest import KafkaBroker, PostgresServer

_databases_seen: list[str] = []


async def test_database_from_template_is_reachable(
    database_url: str, postgres_server: PostgresServer
) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        assert await conn.fetchval("SELECT 1") == 1
        assert (await conn.fetchval("SELECT current_database()")).startswith("t_")
        # The embedded throwaway server, not whatever runs on the machine's port 5432.
        data_dir = await conn.fetchval("SHOW data_directory")
        assert data_dir == str(postgres_server.data_dir.resolve())
    finally:
        await conn.close()


@pytest.mark.parametrize("run", [1, 2])
async def test_each_test_gets_its_own_database(database_url: str, run: int) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        name = await conn.fetchval("SELECT current_database()")
        # The other run's table must not be visible here: copies of the template only.
        leftover = await conn.fetchval("SELECT to_regclass('public.isolation_marker')")
        assert leftover is None
        await conn.execute("CREATE TABLE isolation_marker (run int)")
    finally:
        await conn.close()
    assert name not in _databases_seen
    _databases_seen.append(name)


async def test_broker_produce_and_consume_with_a_group(kafka_bootstrap: str) -> None:
    topic = f"infra-{uuid.uuid4().hex[:8]}"
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, enable_idempotence=False)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"hello", key=b"k1")
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        group_id="infra-test",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        # Tansu holds a JoinGroup for about half the session timeout (5 s by default).
        session_timeout_ms=2000,
        heartbeat_interval_ms=500,
    )
    await consumer.start()
    try:
        message = await asyncio.wait_for(consumer.getone(), timeout=30)
        assert (message.key, message.value) == (b"k1", b"hello")
        await consumer.commit()
    finally:
        await consumer.stop()


def _accepts(bootstrap: str) -> bool:
    host, port = bootstrap.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=1):
            return True
    except OSError:
        return False


async def test_broker_outage_and_recovery(kafka_broker: KafkaBroker) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka_broker.bootstrap, enable_idempotence=False)
    await producer.start()
    try:
        await producer.send_and_wait("outage", b"before")

        kafka_broker.stop()
        assert not _accepts(kafka_broker.bootstrap)

        kafka_broker.start()
        assert _accepts(kafka_broker.bootstrap)
        # The same client reconnects to the restarted (empty) broker on the same port.
        await asyncio.wait_for(producer.send_and_wait("outage", b"after"), timeout=30)
    finally:
        await producer.stop()
