"""Idempotent Kafka consumers with a dead-letter topic.

A batch from ``getmany`` is handled in ONE database transaction. A message that is refused
(:class:`Reject`) goes to ``privacy.dead-letter`` with its original bytes and the reason, while the
rest of the batch commits. Handlers decide to refuse before they write anything, so no savepoint
is needed per message: savepoints that write each take a subtransaction id, and more than 64 in
one transaction overflow PostgreSQL's per-backend cache and slow every snapshot on the server.
Offsets are committed only after the transaction has committed and the dead letters have been
acknowledged by the broker. A crash anywhere in between redelivers the batch; handlers make that
harmless by recording each event id in the same transaction as its effect (:func:`claim`).

With ``lanes`` above 1 (consent.inbound), the partitions fetched are dealt to that many lanes and
the lanes' batches are handled at once, each in its own transaction, so the service's work on one
batch overlaps PostgreSQL's on another. A partition is in one lane per fetch and its messages are
handled in offset order; the offsets a lane finished are committed even when another lane failed,
and only the failed lane's partitions are replayed, from their first message not handled.

An unexpected error (a bug, or the database going away) rolls the batch back. If the database is
still reachable the batch is replayed one message per transaction, so a single poison message is
dead-lettered with its error instead of blocking its partition; if the database is down, the
consumer waits with backoff and replays the batch from its first offset: nothing is skipped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Protocol

import asyncpg
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError

from shared.cloudevents import CloudEvent, InvalidEvent, from_kafka
from shared.events import Topic
from shared.kafka import KafkaHub
from shared.loops import close_quietly, is_failure, pause_after, stop_if_cancelled
from shared.observability import EVENTS_CONSUMED, event_id_var
from shared.recordsig import SignatureRefused, covered
from shared.servicesig import HEADER as SERVICE_SIGNATURE
from shared.servicesig import TASK_HEADER

log = logging.getLogger(__name__)

#: Run by each service's first migration that consumes anything, in the service's own schema.
DDL = """
CREATE TABLE processed_events (
    consumer     text NOT NULL,
    event_id     text NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
"""


class Reject(Exception):
    """This message can never be processed; dead-letter it with ``reason`` (for a person to read).

    A handler raises it only before it has written anything for the message: the batch's
    transaction goes on and commits everything else.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


#: Handles one message: returns, or raises :class:`Reject` before writing anything for it.
Handler = Callable[[asyncpg.Connection, ConsumerRecord], Awaitable[None]]


class BatchHandler(Protocol):
    """A handler that takes a whole batch at once (fewer round trips), and one message at a time
    when the consumer replays a failed batch to isolate a poison message. Both decide every refusal
    before writing anything, and both mean the same for a message."""

    async def handle_batch(self, conn: asyncpg.Connection, messages: list[ConsumerRecord]) -> list[str | None]:
        """Handle ``messages`` in order; returns, per message, None or the reason it is refused."""
        ...

    async def handle_one(self, conn: asyncpg.Connection, message: ConsumerRecord) -> None:
        """Handle one message, or raise :class:`Reject` with the reason it is refused."""
        ...


#: The largest event accepted (the value; aiokafka's default request size). A bigger message is
#: dead-lettered, cut to :data:`MAX_DEAD_LETTER_VALUE` bytes so that the dead letter itself fits.
MAX_EVENT_BYTES = 1024 * 1024
MAX_DEAD_LETTER_VALUE = 900 * 1024


def read_event(message: ConsumerRecord) -> CloudEvent:
    """The message's CloudEvent (either content mode), or :class:`Reject` with the reason.

    Also names the event in the log lines that follow (the consumer restores the name after).
    """
    size = len(message.value or b"")
    if size > MAX_EVENT_BYTES:
        raise Reject(f"the message is {size} bytes, larger than the {MAX_EVENT_BYTES} bytes an event may be")
    try:
        event = from_kafka(message.value, message.headers, message.key)
    except InvalidEvent as exc:
        raise Reject(exc.reason) from None
    event_id_var.set(event.id)
    return event


async def claim(conn: asyncpg.Connection, consumer: str, event_id: str, *, digest: str | None = None) -> bool:
    """Record that ``consumer`` handles ``event_id`` now; False if it already did (skip it).

    ``digest``: kept with the id, for a consumer that tells a replay from an id reused for other
    content (its schema has the ``digest`` column: the request service's)."""
    if digest is None:
        row = await conn.fetchval(
            "INSERT INTO processed_events (consumer, event_id) VALUES ($1, $2) "
            "ON CONFLICT DO NOTHING RETURNING true",
            consumer,
            event_id,
        )
    else:
        row = await conn.fetchval(
            "INSERT INTO processed_events (consumer, event_id, digest) VALUES ($1, $2, $3) "
            "ON CONFLICT DO NOTHING RETURNING true",
            consumer,
            event_id,
            digest,
        )
    return bool(row)


def dead_letter_headers(record: ConsumerRecord, consumer: str, reason: str) -> list[tuple[str, bytes]]:
    extra = {
        "dongui-dlq-reason": reason[:4000],
        "dongui-dlq-topic": record.topic,
        "dongui-dlq-partition": str(record.partition),
        "dongui-dlq-offset": str(record.offset),
        "dongui-dlq-consumer": consumer,
        "dongui-dlq-at": datetime.now(UTC).isoformat(),
    }
    # The original's own service signatures go (the dead letter gets its own), and so does a header
    # that could not be signed (a covered name with '=' or a newline: no CloudEvents attribute).
    original = [(k, v) for k, v in (record.headers or ())
                if not k.startswith("dongui-dlq-") and k not in (SERVICE_SIGNATURE, TASK_HEADER)
                and not (covered(k) and ("=" in k or "\n" in k))]
    return original + [(k, v.encode()) for k, v in extra.items()]


class Consumer:
    """Consumes ``topics`` as group ``group_id``, handing each message to ``handler``, or each
    batch to ``batch_handler`` (give one of them)."""

    def __init__(
        self,
        *,
        name: str,
        topics: list[str],
        group_id: str,
        handler: Handler | None = None,
        batch_handler: BatchHandler | None = None,
        pool: asyncpg.Pool,
        hub: KafkaHub,
        service: str,
        batch_max: int = 500,
        lanes: int = 1,
        from_services: bool = False,
    ) -> None:
        if (handler is None) == (batch_handler is None):
            raise TypeError("a consumer needs either a handler or a batch_handler")
        if from_services and batch_handler is not None:
            raise TypeError("a consumer of the services' topics checks each record with a handler")
        if batch_handler is not None:
            handler = batch_handler.handle_one  # a failed batch is replayed one message at a time
        assert handler is not None
        self.name = name
        self.topics = topics
        self.group_id = group_id
        self.batch_handler = batch_handler
        self.handler: Handler = handler
        self.pool = pool
        self.hub = hub
        self.service = service
        self.batch_max = batch_max
        if lanes < 1:
            raise ValueError("a consumer needs at least one lane")
        #: Batches in flight at once, each in its own transaction, from different partitions (a
        #: partition is in one lane, so its messages stay in order). 1: one batch at a time.
        self.lanes = lanes
        #: The topics are written by the services only: a record is handled only if a service of
        #: this deployment signed it (shared/servicesig.py); :meth:`refuse_unsigned` says what else.
        self.from_services = from_services
        self._consumer: AIOKafkaConsumer | None = None

    async def run(self) -> None:
        """Consume until cancelled; survives broker and database outages."""
        backoff = 0.5
        while True:
            stop_if_cancelled()
            try:
                await self._start()
                backoff = 0.5
                await self._loop()
            except BaseException as exc:  # an outage (or a stray CancelledError): start again
                if not is_failure(exc):
                    raise
                backoff = await pause_after(f"consumer {self.name}", exc, backoff)
            finally:
                await self._stop()

    async def _start(self) -> None:
        await self.hub.ensure_topics([*self.topics, Topic.dead_letter])
        consumer = AIOKafkaConsumer(
            *self.topics,
            **self.hub.settings.kafka_client_options(),
            group_id=self.group_id,
            client_id=f"dongui-{self.service}-{self.name}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            metadata_max_age_ms=30_000,
            max_poll_records=self.batch_max,
            session_timeout_ms=self.hub.settings.kafka_session_timeout_ms,
            heartbeat_interval_ms=self.hub.settings.kafka_heartbeat_interval_ms,
        )
        self._consumer = consumer  # set first: a cancelled start must still be stopped
        await asyncio.wait_for(consumer.start(), timeout=30)

    async def _stop(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await close_quietly(consumer.stop(), timeout=30, what=f"consumer {self.name}")

    async def _loop(self) -> None:
        consumer = self._consumer
        assert consumer is not None
        backoff = 0.5
        while True:
            stop_if_cancelled()
            batches = {tp: batch for tp, batch in (await self._fetch(consumer)).items() if batch}
            if not batches:
                continue
            # Partitions are dealt to the lanes; each lane's batches are handled in turn, the lanes
            # at once (each batch its own transaction). A lane's outcome: the offsets it handled,
            # and where to start again in the partitions it could not finish.
            tps = list(batches)
            lanes = [[(tp, batches[tp]) for tp in tps[i::self.lanes]]
                     for i in range(min(self.lanes, len(tps)))]
            outcomes = await asyncio.gather(*(self._lane(lane) for lane in lanes),
                                            return_exceptions=True)
            offsets: dict[TopicPartition, int] = {}
            again: dict[TopicPartition, int] = {}
            failures: list[Exception] = []
            for outcome in outcomes:
                if isinstance(outcome, BaseException):
                    raise outcome  # only a cancellation gets here: _lane keeps every Exception
                done, retry, failure = outcome
                offsets.update(done)
                again.update(retry)
                if failure is not None:
                    failures.append(failure)
            # A rebalance during the batch may have taken partitions away: their new owner replays
            # and de-duplicates. Committing or seeking one of them is refused (IllegalStateError,
            # seen on Apache Kafka when a second replica joined), which would restart the consumer.
            assigned = consumer.assignment()
            offsets = {tp: offset for tp, offset in offsets.items() if tp in assigned}
            again = {tp: offset for tp, offset in again.items() if tp in assigned}
            if offsets:
                try:
                    await consumer.commit(offsets)
                except (CommitFailedError, IllegalStateError) as exc:
                    log.info("consumer %s could not commit after a rebalance: %s", self.name, exc)
            if failures:
                # The database or the broker is away: replay from the first message not handled,
                # once it is back.
                log.warning("consumer %s will replay %d partition(s) in %.1fs: %s",
                            self.name, len(again), backoff, failures[0])
                for tp, offset in again.items():
                    consumer.seek(tp, offset)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
            else:
                backoff = 0.5

    async def _fetch(self, consumer: AIOKafkaConsumer) -> dict[TopicPartition, list[ConsumerRecord]]:
        """The next batch: with one lane, up to ``batch_max`` messages; with more, up to
        ``batch_max`` of each assigned partition that has messages waiting (``getmany`` alone drains
        one partition's fetched messages before the next, which would leave the other lanes idle)."""
        if self.lanes == 1:
            return await consumer.getmany(timeout_ms=1000, max_records=self.batch_max)
        batches: dict[TopicPartition, list[ConsumerRecord]] = {}
        for tp in sorted(consumer.assignment()):
            batches.update(await consumer.getmany(tp, timeout_ms=0, max_records=self.batch_max))
        if not any(batches.values()):
            batches = await consumer.getmany(timeout_ms=1000, max_records=self.batch_max)
        return batches

    async def _lane(self, lane: list[tuple[TopicPartition, list[ConsumerRecord]]]
                    ) -> tuple[dict[TopicPartition, int], dict[TopicPartition, int], Exception | None]:
        """Handle a lane's messages in batches of at most ``batch_max``, in order. Returns the next
        offset of each partition handled, the first offset of each partition to replay, and the
        failure that stopped the lane (None if it finished)."""
        placed = [(tp, record) for tp, batch in lane for record in batch]
        done: dict[TopicPartition, int] = {}
        for start in range(0, len(placed), self.batch_max):
            chunk = placed[start:start + self.batch_max]
            try:
                await self.process([record for _, record in chunk])
            except Exception as exc:
                retry: dict[TopicPartition, int] = {}
                for tp, record in placed[start:]:
                    retry.setdefault(tp, record.offset)
                return done, retry, exc
            done.update((tp, record.offset + 1) for tp, record in chunk)
        return done, {}, None

    async def process(self, records: list[ConsumerRecord]) -> None:
        """Handle one batch: one transaction, dead letters sent before the caller commits offsets."""
        dead: list[tuple[ConsumerRecord, str]] = []
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                if self.batch_handler is not None:
                    reasons = await self.batch_handler.handle_batch(conn, records)
                    dead = [(r, why) for r, why in zip(records, reasons, strict=True) if why is not None]
                    for record, why in dead:
                        log.info("dead-lettering %s/%d/%d: %s", record.topic, record.partition, record.offset, why)
                else:
                    for record in records:
                        reason = await self._handle(conn, record)
                        if reason is not None:
                            dead.append((record, reason))
        except Exception as exc:
            if not await self._db_ok():
                raise  # infrastructure, not the message: the loop replays the batch
            log.warning("consumer %s: batch failed (%r); replaying one message at a time", self.name, exc)
            dead = await self._process_one_by_one(records)
        await self._send_dead_letters(dead)
        if dead:
            EVENTS_CONSUMED.labels(self.service, self.name, "dead_lettered").inc(len(dead))
        if len(records) > len(dead):
            EVENTS_CONSUMED.labels(self.service, self.name, "processed").inc(len(records) - len(dead))

    async def _handle(self, conn: asyncpg.Connection, record: ConsumerRecord) -> str | None:
        token = event_id_var.set(f"{record.topic}/{record.partition}/{record.offset}")
        try:
            if self.from_services:
                try:
                    self.hub.records.verify(record.topic, record.value, record.headers)
                except SignatureRefused as exc:
                    return self.refuse_unsigned(record, exc.reason)
            await self.handler(conn, record)
            return None
        except Reject as exc:
            log.info("dead-lettering %s/%d/%d: %s", record.topic, record.partition, record.offset, exc.reason)
            return exc.reason
        finally:
            event_id_var.reset(token)

    def refuse_unsigned(self, record: ConsumerRecord, reason: str) -> str | None:
        """What becomes of a record of the services' topics that no service signed: dead-lettered
        with the reason (returned), before the handler sees it. None: skipped."""
        return f"not signed by the services: {reason}"

    async def _process_one_by_one(self, records: list[ConsumerRecord]) -> list[tuple[ConsumerRecord, str]]:
        dead = []
        for record in records:
            try:
                async with self.pool.acquire() as conn, conn.transaction():
                    reason = await self._handle(conn, record)
            except Exception as exc:
                if not await self._db_ok():
                    raise
                log.exception("consumer %s: message %s/%d/%d cannot be processed",
                              self.name, record.topic, record.partition, record.offset)
                reason = f"could not be processed: {type(exc).__name__}: {exc}"
            if reason is not None:
                dead.append((record, reason))
        return dead

    async def _db_ok(self) -> bool:
        try:
            async with self.pool.acquire(timeout=5) as conn:
                await conn.fetchval("SELECT 1")
            return True
        except Exception:
            return False

    async def _send_dead_letters(self, dead: list[tuple[ConsumerRecord, str]]) -> None:
        if not dead:
            return
        producer = await self.hub.producer()
        futures = []
        for record, reason in dead:
            value, headers = record.value, dead_letter_headers(record, f"{self.service}/{self.name}", reason)
            if value is not None and len(value) > MAX_DEAD_LETTER_VALUE:
                # The broker took it, but the dead letter must fit in one producer request too.
                headers.append(("dongui-dlq-truncated-from", str(len(value)).encode()))
                value = value[:MAX_DEAD_LETTER_VALUE]
            headers = self.hub.records.signed(Topic.dead_letter, value, headers)  # shared/servicesig.py
            futures.append(await producer.send(Topic.dead_letter, value=value, key=record.key, headers=headers))
        await asyncio.wait_for(asyncio.gather(*futures), timeout=30)
