"""Kafka handlers of the notifier. Each runs inside the shared consumer's batch transaction.

The notification rows and their deliveries are written in that transaction, with the event's
claim; offsets are committed after it. So an event that reached the topic is told exactly once
per recipient, even across restarts and redeliveries; sending happens later (delivery.py).
"""

from __future__ import annotations

import logging

import asyncpg
from aiokafka import ConsumerRecord

from services.notifier.routing import Notice, Withdrawal, dead_letter_notice, plan
from services.notifier.service import NotifierService
from shared.consumer import Consumer, claim, read_event
from shared.observability import EVENTS_CONSUMED

log = logging.getLogger(__name__)

EVENTS_CONSUMER = "notifier-events"
DEAD_LETTERS_CONSUMER = "notifier-dead-letters"


def events_handler(service: NotifierService):
    """consent.events and dsr.events: notices for the kinds the manager is told about.

    An unreadable message is refused (and comes back through privacy.dead-letter as a
    notification of its own); an event type the notifier has no use for is ignored.
    """

    async def handle(conn: asyncpg.Connection, message: ConsumerRecord) -> None:
        envelope = read_event(message)  # Reject when it is not a CloudEvent
        meaning = plan(message.topic, envelope)  # raises Reject for invalid data, before any write
        if meaning is None or not await claim(conn, EVENTS_CONSUMER, envelope.id):
            return
        if isinstance(meaning, Withdrawal):
            await service.record_withdrawal(conn, meaning)
        else:
            assert isinstance(meaning, Notice)
            await service.notify(conn, meaning)

    return handle


def dead_letters_handler(service: NotifierService):
    """privacy.dead-letter: every record becomes a notification, however malformed.

    Never raises :class:`Reject`: a dead letter of a dead letter would come straight back here.
    """

    async def handle(conn: asyncpg.Connection, message: ConsumerRecord) -> None:
        notice = dead_letter_notice(message)
        if await claim(conn, DEAD_LETTERS_CONSUMER, notice.key):
            await service.notify(conn, notice)

    return handle


class DeadLetterConsumer(Consumer):
    """The shared consumer, except that it never produces to privacy.dead-letter.

    Should the handler still fail on a record (a bug), the shared consumer would dead-letter it,
    which for this topic is a loop. Instead the record is told as a notification that says only
    where it is and that the notifier could not read it.
    """

    def __init__(self, *, notifier: NotifierService, **kwargs) -> None:
        super().__init__(**kwargs)
        self.notifier = notifier

    def refuse_unsigned(self, record: ConsumerRecord, reason: str) -> str | None:
        """A record no service signed is no dead letter of ours: whoever wrote it gets nothing into
        the privacy manager's inbox. Skipped, logged and counted (never dead-lettered: a loop)."""
        log.error("ignored %s/%d/%d on privacy.dead-letter, not signed by the services: %s",
                  record.topic, record.partition, record.offset, reason)
        EVENTS_CONSUMED.labels(self.service, self.name, "ignored_unsigned").inc()
        return None

    async def _send_dead_letters(self, dead: list[tuple[ConsumerRecord, str]]) -> None:
        if not dead:
            return
        async with self.pool.acquire() as conn, conn.transaction():
            for record, reason in dead:
                log.error("the notifier could not process dead letter %s/%d/%d: %s",
                          record.topic, record.partition, record.offset, reason)
                notice = dead_letter_notice(record, fallback_reason=f"the notifier could not read this dead letter: {reason}")
                if await claim(conn, DEAD_LETTERS_CONSUMER, notice.key):
                    await self.notifier.notify(conn, notice)
