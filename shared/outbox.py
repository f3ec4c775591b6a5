"""Transactional outbox: an event is written in the transaction that made it true, then relayed.

:func:`enqueue` writes the outbox row on the caller's connection and never commits: the business
row and its event commit together or not at all. :class:`OutboxRelay` claims rows with
``FOR UPDATE SKIP LOCKED`` (several replicas never publish the same row at once), sends them, waits
for the broker's acknowledgement, and only then deletes them. If the broker is down the transaction
rolls back, the rows stay, and the relay tries again with backoff. An insert wakes the relay through
``pg_notify`` (a statement trigger, in the same transaction); a poll is the fallback.

Each record is signed as it is sent (``shared.servicesig``: an HMAC with the services' key; a
``dsr.tasks`` record also an Ed25519 signature), so that a consumer can tell it from one written
by anyone else who can write to the broker.

Delivery is at least once: a crash between the broker's acknowledgement and the delete sends the
row again, so consumers de-duplicate by CloudEvent id.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

import asyncpg

from shared.cloudevents import STRUCTURED_CONTENT_TYPE, CloudEvent, new_event, structured_value, to_kafka
from shared.events import EventData
from shared.kafka import KafkaHub
from shared.loops import run_woken
from shared.observability import EVENTS_PUBLISHED, OUTBOX_FAILURES

log = logging.getLogger(__name__)

#: The headers of a structured-mode event (what :func:`to_kafka` gives every event).
STRUCTURED_HEADERS = [("content-type", STRUCTURED_CONTENT_TYPE.encode())]

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


async def enqueue(conn: asyncpg.Connection, data: EventData, *, source: str,
                  time: datetime | None = None) -> CloudEvent:
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


class Outgoing(NamedTuple):
    """An event whose data is already in JSON form (what ``data.model_dump(mode="json")`` of its
    :class:`EventData` gives), for a hot path that built it from values it validated itself: no
    model per event. :func:`enqueue_many` takes these and ``(data, source)`` pairs, mixed."""

    topic: str
    event_type: str
    key: str
    data: dict[str, Any]
    source: str


def _columns(items: Sequence[tuple[EventData, str] | Outgoing]) -> tuple[list[str], list[str], list[str], list[str],
                                                                       list[bytes], list[list[str]]]:
    """The outbox rows of many events as columns, in order: topic, key, event_id, event_type,
    value, and the headers (the same for every row, one jsonb value).

    The envelopes are written directly (:func:`structured_value`): the same JSON as
    :func:`enqueue` writes, without a CloudEvent model per event.
    """
    topics: list[str] = []
    keys: list[str] = []
    ids: list[str] = []
    types: list[str] = []
    values: list[bytes] = []
    for item in items:
        if isinstance(item, Outgoing):
            topic, event_type, key, data, source = item
        else:
            model, source = item
            topic, event_type, key, data = (model.topic, model.event_type, model.kafka_key(),
                                            model.model_dump(mode="json"))
        event_id, value = structured_value(source=source, type=event_type, subject=key, data=data)
        topics.append(str(topic))
        keys.append(key)
        ids.append(event_id)
        types.append(event_type)
        values.append(value)
    headers = [[name, val.decode()] for name, val in STRUCTURED_HEADERS]  # jsonb (the pool's codec)
    return topics, keys, ids, types, values, headers


_INSERT_MANY = (
    "INSERT INTO outbox (topic, key, event_id, event_type, value, headers) "
    "SELECT topic, key, event_id, event_type, value, $6::jsonb "
    "FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bytea[]) "
    "WITH ORDINALITY AS v(topic, key, event_id, event_type, value, ord) ORDER BY ord"
)


async def enqueue_many(conn: asyncpg.Connection, items: Sequence[tuple[EventData, str] | Outgoing]) -> None:
    """:func:`enqueue` for many events (``(data, source)`` pairs or :class:`Outgoing`), in the
    caller's transaction, in order: one statement whatever their number (a consumer's batch)."""
    if items:
        await conn.execute(_INSERT_MANY, *_columns(items))


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
        #: Rows claimed per pass: ``batch_size``, cut down while the broker is too slow to take
        #: that many within ``send_timeout`` (else the same rows would time out for ever).
        self.limit = batch_size

    async def run(self) -> None:
        """Publish until cancelled. Never raises for a broker or database outage."""
        async def step() -> bool:
            limit = self.limit
            return await self.publish_batch() >= limit

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
                self.limit,
            )
            if not rows:
                return 0
            # Bounded: with the broker down, send() can wait on metadata for a long time.
            try:
                await asyncio.wait_for(self._send(rows), timeout=self.send_timeout)
            except TimeoutError:
                # Down, or too slow for this many at once: fewer next time (some of these may have
                # gone out already; they go again, and consumers de-duplicate by event id).
                self.limit = max(1, len(rows) // 4)
                raise
            await conn.execute("DELETE FROM outbox WHERE id = ANY($1::bigint[])", [r["id"] for r in rows])
        self.limit = min(self.batch_size, self.limit * 2)
        for topic, count in Counter(row["topic"] for row in rows).items():
            EVENTS_PUBLISHED.labels(self.service, topic).inc(count)
        return len(rows)

    async def _send(self, rows: list[asyncpg.Record]) -> None:
        producer = await self.hub.producer()
        sign = self.hub.records.signed  # every record a service produces is signed (shared/servicesig.py)
        futures = [
            await producer.send(
                row["topic"],
                value=row["value"],
                key=row["key"].encode() if row["key"] is not None else None,
                headers=sign(row["topic"], row["value"], [(name, val.encode()) for name, val in row["headers"]]),
            )
            for row in rows
        ]
        await asyncio.gather(*futures)
