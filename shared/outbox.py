"""Transactional outbox: an event is written in the transaction that made it true, then relayed.

:func:`enqueue` writes the outbox row on the caller's connection and never commits: the business
row and its event commit together or not at all. :class:`OutboxRelay` claims rows with
``FOR UPDATE SKIP LOCKED`` (several replicas never publish the same row at once), sends them, waits
for the broker's acknowledgement, and only then deletes them. If the broker is down the transaction
rolls back, the rows stay, and the relay tries again with backoff. An insert wakes the relay through
``pg_notify`` (a statement trigger, in the same transaction); a poll is the fallback.

Delivery is at least once: a crash between the broker's acknowledgement and the delete sends the
row again, so consumers de-duplicate by CloudEvent id.
"""

from __future__ import annotations

import asyncio
import json
import logging

import asyncpg

from shared.cloudevents import CloudEvent, new_event, to_kafka
from shared.events import EventData
from shared.kafka import KafkaHub
from shared.loops import run_woken
from shared.observability import EVENTS_PUBLISHED, OUTBOX_FAILURES

log = logging.getLogger(__name__)

#: Run by each service's first migration, inside the service's own schema.
DDL = """
CREATE TABLE outbox (
    id          bigserial PRIMARY KEY,
    topic       text NOT NULL,
    key         text,
    event_id    text NOT NULL,
    event_type  text NOT NULL,
    value       bytea NOT NULL,
    headers     jsonb NOT NULL DEFAULT '[]',
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify(TG_TABLE_SCHEMA || '_outbox', '');
    RETURN NULL;
END $$;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();
"""


async def enqueue_event(conn: asyncpg.Connection, event: CloudEvent, *, topic: str, key: str | None) -> None:
    """Add a ready CloudEvent to the outbox, in the caller's transaction."""
    value, headers = to_kafka(event)
    await conn.execute(
        "INSERT INTO outbox (topic, key, event_id, event_type, value, headers) "
        "VALUES ($1, $2, $3, $4, $5, $6)",
        topic,
        key,
        event.id,
        event.type,
        value,
        [[name, val.decode()] for name, val in headers],
    )


async def enqueue(conn: asyncpg.Connection, data: EventData, *, source: str, time=None) -> CloudEvent:
    """Wrap ``data`` in a CloudEvent of its type and add it to the outbox, in the caller's transaction."""
    key = data.kafka_key()
    event = new_event(
        source=source,
        type=data.event_type,
        subject=key,
        data=data.model_dump(mode="json"),
        time=time,
    )
    await enqueue_event(conn, event, topic=data.topic, key=key)
    return event


async def enqueue_many(conn: asyncpg.Connection, items: list[tuple[EventData, str]]) -> None:
    """:func:`enqueue` for many events (``(data, source)`` pairs) in one statement, in order."""
    if not items:
        return
    columns: list[list] = [[], [], [], [], [], []]
    for data, source in items:
        key = data.kafka_key()
        event = new_event(source=source, type=data.event_type, subject=key, data=data.model_dump(mode="json"))
        value, headers = to_kafka(event)
        # Headers as JSON text: a list of pairs in a jsonb[] would read as a 3-dimensional array.
        for column, item in zip(columns, (str(data.topic), key, event.id, event.type, value,
                                          json.dumps([[name, val.decode()] for name, val in headers]))):
            column.append(item)
    await conn.execute(
        "INSERT INTO outbox (topic, key, event_id, event_type, value, headers) "
        "SELECT topic, key, event_id, event_type, value, headers::jsonb "
        "FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bytea[], $6::text[]) "
        "WITH ORDINALITY AS v(topic, key, event_id, event_type, value, headers, n) ORDER BY n",
        *columns,
    )


class OutboxRelay:
    def __init__(
        self,
        pool: asyncpg.Pool,
        hub: KafkaHub,
        *,
        dsn: str,
        service: str,
        schema: str,
        batch_size: int = 500,
        poll_interval: float = 1.0,
        send_timeout: float = 15.0,
    ) -> None:
        self.pool = pool
        self.hub = hub
        self.dsn = dsn
        self.service = service
        self.channel = f"{schema}_outbox"
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.send_timeout = send_timeout

    async def run(self) -> None:
        """Publish until cancelled. Never raises for a broker or database outage."""
        async def step() -> bool:
            return await self.publish_batch() >= self.batch_size

        async def failed(exc: Exception) -> None:
            OUTBOX_FAILURES.labels(self.service).inc()
            await self.hub.reset()  # a new producer next time, in case this one is wedged

        await run_woken(step, name=f"{self.service} outbox relay", dsn=self.dsn, channel=self.channel,
                        poll_interval=self.poll_interval, on_failure=failed)

    async def publish_batch(self) -> int:
        """Claim, send and delete one batch of rows. Returns how many were published."""
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "SELECT id, topic, key, value, headers FROM outbox "
                "ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
                self.batch_size,
            )
            if not rows:
                return 0
            # Bounded: with the broker down, send() can wait on metadata for a long time.
            await asyncio.wait_for(self._send(rows), timeout=self.send_timeout)
            await conn.execute("DELETE FROM outbox WHERE id = ANY($1::bigint[])", [r["id"] for r in rows])
        for row in rows:
            EVENTS_PUBLISHED.labels(self.service, row["topic"]).inc()
        return len(rows)

    async def _send(self, rows: list[asyncpg.Record]) -> None:
        producer = await self.hub.producer()
        futures = [
            await producer.send(
                row["topic"],
                value=row["value"],
                key=row["key"].encode() if row["key"] is not None else None,
                headers=[(name, val.encode()) for name, val in row["headers"]],
            )
            for row in rows
        ]
        await asyncio.gather(*futures)
