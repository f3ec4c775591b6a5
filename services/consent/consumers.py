"""Kafka handlers of the consent service. Each runs inside the consumer's batch transaction."""

from __future__ import annotations

import asyncpg
from aiokafka import ConsumerRecord
from pydantic import BaseModel, ValidationError

from services.consent.commands import Commands
from services.consent.recording import Recording, refusal
from shared.auth import KeyRing
from shared.cloudevents import CloudEvent
from shared.consumer import Handler, Reject, claim, read_event
from shared.events import (
    SubjectConsentWithdrawalRequested,
    SubjectErasureApproved,
    SubjectHoldPlaced,
    SubjectHoldReleased,
)
from shared.problems import Problem
from shared.recordsig import SignatureRefused

HOLD_EVENTS: dict[str, type[BaseModel]] = {
    SubjectHoldPlaced.event_type: SubjectHoldPlaced,
    SubjectHoldReleased.event_type: SubjectHoldReleased,
}
#: Commands of the request service that the consent service carries out.
COMMAND_EVENTS: dict[str, type[BaseModel]] = {
    SubjectErasureApproved.event_type: SubjectErasureApproved,
    SubjectConsentWithdrawalRequested.event_type: SubjectConsentWithdrawalRequested,
}


class InboundHandler:
    """consent.inbound: record each consent event exactly as the HTTP endpoint would, a whole batch
    at once (:meth:`Recording.record_batch`, a few statements for all of it); one message is a
    batch of one. A record is recorded only when a live key of a clinic system signed it
    (``shared.recordsig``) and its ``source`` is that system's own."""

    def __init__(self, recording: Recording, keyring: KeyRing) -> None:
        self.recording = recording
        self.keyring = keyring

    async def handle_batch(self, conn: asyncpg.Connection, messages: list[ConsumerRecord]) -> list[str | None]:
        envelopes: list[CloudEvent | str] = []
        for message in messages:
            # Signed by a live key of a clinic system (shared/recordsig.py), from memory.
            try:
                signer = self.keyring.record_signer(message.topic, message.value, message.headers)
            except SignatureRefused as exc:
                envelopes.append(f"401 Unauthorized: {exc.reason}")
                continue
            try:
                envelope = read_event(message)
            except Reject as exc:
                envelopes.append(exc.reason)
                continue
            # Only an active clinic system publishes consent, each as its own registered source.
            grant = self.keyring.system_with_source(envelope.source)
            if grant is None:
                envelopes.append(f"403 Forbidden: the source '{envelope.source}' is not that of an active clinic "
                                 f"system; a system publishes as the source the privacy manager registered for it.")
                continue
            if grant.system_id != signer:
                envelopes.append(f"403 Forbidden: signed by the system '{signer}', but the source '{envelope.source}' "
                                 f"is the system '{grant.system_id}''s; a system publishes only as its own source.")
                continue
            envelopes.append(envelope)
        return await self.recording.record_batch(conn, envelopes)

    async def handle_one(self, conn: asyncpg.Connection, message: ConsumerRecord) -> None:
        [reason] = await self.handle_batch(conn, [message])
        if reason is not None:
            raise Reject(reason)


def dsr_events_handler(commands: Commands, consumer_name: str) -> Handler:
    """dsr.events: honour processing holds, approved erasures and consent-withdrawal requests.

    Other request events are not for this service. Every refusal (dead letter) comes before the
    event id is claimed, i.e. before anything is written; the claim makes a redelivery a no-op.
    """

    async def handle(conn: asyncpg.Connection, message: ConsumerRecord) -> None:
        envelope = read_event(message)
        model = HOLD_EVENTS.get(envelope.type) or COMMAND_EVENTS.get(envelope.type)
        if model is None:
            return
        try:
            event = model.model_validate(envelope.data)
        except ValidationError as exc:
            raise Reject(f"invalid {envelope.type} data: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}") from None
        if isinstance(event, (SubjectErasureApproved, SubjectConsentWithdrawalRequested)):
            try:
                commands.check(envelope, event)
            except Problem as exc:
                raise Reject(refusal(exc)) from None
        if not await claim(conn, consumer_name, envelope.id):
            return
        # From here on the message has written its claim: a failure must raise (the batch is
        # rolled back and replayed one message at a time), never Reject.
        if isinstance(event, SubjectHoldPlaced):
            await commands.place_hold(conn, event)
        elif isinstance(event, SubjectHoldReleased):
            await commands.release_hold(conn, event)
        elif isinstance(event, SubjectErasureApproved):
            await commands.erase(conn, event)
        elif isinstance(event, SubjectConsentWithdrawalRequested):
            await commands.withdraw_on_request(conn, event, command_id=envelope.id)

    return handle


