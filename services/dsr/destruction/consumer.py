"""The request service's ``consent.events`` consumer: each recorded ``consent.withdrawn`` (from a
clinic system, the portal, or a membership withdrawal) destroys what only that consent justified.

What else the subject still consents to is asked of the consent service for the whole batch before
its transaction (never inside it), from a record the services signed only. Should the consent
service be away, the batch fails as a whole and is replayed after a pause, like a database
outage: a withdrawal is never skipped because consent could not answer.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from aiokafka import ConsumerRecord
from pydantic import ValidationError

from services.dsr.destruction import planning
from services.dsr.destruction.service import Destructions
from shared.cloudevents import InvalidEvent, from_kafka
from shared.consumer import MAX_EVENT_BYTES, Consumer, Reject, claim, read_event
from shared.events import ConsentWithdrawalRecorded
from shared.recordsig import SignatureRefused

log = logging.getLogger(__name__)

CONSUMER_NAME = "dsr-withdrawals"

#: A subject's purposes granted now; None when the subject was erased (nothing is left to destroy by
#: a withdrawal: the erasure's own tasks did it).
GrantedLookup = Callable[[str], Awaitable[set[str] | None]]


class WithdrawalsConsumer(Consumer):
    """Consumes consent.events (signed by the services), handling each withdrawal."""

    def __init__(self, *, destructions: Destructions, granted: GrantedLookup, **options: Any) -> None:
        super().__init__(handler=withdrawals_handler(destructions, self), from_services=True, **options)
        self._lookup = granted
        self.granted: dict[str, set[str] | None] = {}

    async def _handle(self, conn: asyncpg.Connection, record: ConsumerRecord) -> str | None:
        # Grants, refusals and policies (nearly every record) destroy nothing: skipped unread,
        # before the signature check and the parse, so the topic's volume costs this service little.
        if not _maybe_withdrawal(record):
            return None
        return await super()._handle(conn, record)

    async def process(self, records: list[ConsumerRecord]) -> None:
        if not any(map(_maybe_withdrawal, records)):
            return  # no withdrawal in the batch: no transaction, nothing to ask (the offsets move on)
        self.granted = {}
        for subject_id in sorted(self._subjects(records)):
            self.granted[subject_id] = await self._lookup(subject_id)  # raises Unavailable: replayed
        try:
            await super().process(records)
        finally:
            self.granted = {}

    def _subjects(self, records: list[ConsumerRecord]) -> set[str]:
        """The subjects of the batch's withdrawals that the services signed."""
        subjects = set()
        for record in records:
            if not _maybe_withdrawal(record):
                continue
            try:
                self.hub.records.verify(record.topic, record.value, record.headers)
                event = from_kafka(record.value or b"", record.headers, record.key)
            except (SignatureRefused, InvalidEvent, ValueError, RecursionError):
                continue  # the handler refuses it
            if event.type == ConsentWithdrawalRecorded.event_type and isinstance(event.data, dict):
                subject = event.data.get("subject_id")
                if isinstance(subject, str):
                    subjects.add(subject)
        return subjects


def _maybe_withdrawal(record: ConsumerRecord) -> bool:
    """Cheaply, before decoding: a withdrawal's type is in its ce_type header (binary mode) or
    its value (structured mode)."""
    if len(record.value or b"") > MAX_EVENT_BYTES:
        return False
    for name, value in record.headers or ():
        if name == "ce_type":
            return value == ConsentWithdrawalRecorded.event_type.encode()
    return ConsentWithdrawalRecorded.event_type.encode() in (record.value or b"")


def withdrawals_handler(destructions: Destructions, consumer: WithdrawalsConsumer
                        ) -> Callable[[asyncpg.Connection, ConsumerRecord], Awaitable[None]]:
    async def handle(conn: asyncpg.Connection, message: ConsumerRecord) -> None:
        envelope = read_event(message)
        if envelope.type != ConsentWithdrawalRecorded.event_type:
            return  # grants, refusals and policies destroy nothing
        try:
            event = ConsentWithdrawalRecorded.model_validate(envelope.data)
        except ValidationError as exc:
            first = exc.errors()[0]
            raise Reject(f"invalid {envelope.type} data: data.{'.'.join(map(str, first['loc']))}: {first['msg']}") from None
        if event.subject_id not in consumer.granted:  # not fetched before the batch: never guessed
            raise Reject(f"the consents of the withdrawal's subject could not be read before its batch; "
                         f"withdrawal {envelope.id} of {event.purpose} destroyed nothing")
        # Checks come before writes (Reject requires it); the claim makes a redelivery a no-op.
        if not await claim(conn, CONSUMER_NAME, envelope.id):
            return
        granted = consumer.granted[event.subject_id]
        if granted is None:
            log.info("withdrawal %s: subject was erased; nothing left to destroy", envelope.id)
            return
        plan = planning.after_withdrawal(event.purpose, granted)
        if plan is None:
            log.info("withdrawal %s of %s: nothing to destroy (kept by law or another purpose, or granted again)",
                     envelope.id, event.purpose)
            return
        await destructions.start(conn, plan, subject_id=event.subject_id, jurisdiction=event.jurisdiction,
                                 cause=f"consent.withdrawn:{envelope.id}")

    return handle
