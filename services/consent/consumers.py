"""Kafka handlers of the consent service. Each runs inside the consumer's batch transaction."""

from __future__ import annotations

import asyncpg
from aiokafka import ConsumerRecord
from pydantic import ValidationError

from services.consent.service import ConsentService
from shared.cloudevents import CloudEvent
from shared.consumer import Reject, claim, read_event
from shared.events import (
    SubjectConsentWithdrawalRequested,
    SubjectErasureApproved,
    SubjectHoldPlaced,
    SubjectHoldReleased,
)
from shared.problems import Problem

HOLD_EVENTS = {
    SubjectHoldPlaced.event_type: SubjectHoldPlaced,
    SubjectHoldReleased.event_type: SubjectHoldReleased,
}
#: Commands of the request service that the consent service carries out.
COMMAND_EVENTS = {
    SubjectErasureApproved.event_type: SubjectErasureApproved,
    SubjectConsentWithdrawalRequested.event_type: SubjectConsentWithdrawalRequested,
}


def inbound_handler(service: ConsentService):
    """consent.inbound: record each consent event exactly as the HTTP endpoint would."""

    async def handle(conn: asyncpg.Connection, message: ConsumerRecord) -> None:
        envelope = read_event(message)
        try:
            await service.record(conn, envelope, via="kafka")
        except Problem as exc:
            raise Reject(f"{exc.status} {exc.title}: {exc.detail}") from None

    async def handle_batch(conn: asyncpg.Connection, messages: list[ConsumerRecord]) -> list[str | None]:
        """A whole batch at once (a few statements for all of it): the same rules and rows."""
        envelopes: list[CloudEvent | str] = []
        for message in messages:
            try:
                envelopes.append(read_event(message))
            except Reject as exc:
                envelopes.append(exc.reason)
        return await service.record_batch(conn, envelopes)

    handle.batch = handle_batch  # the Consumer uses it; ``handle`` replays one message at a time
    return handle


def dsr_events_handler(service: ConsentService, consumer_name: str):
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
                service.check_dsr_command(envelope, event)
            except Problem as exc:
                raise Reject(f"{exc.status} {exc.title}: {exc.detail}") from None
        if not await claim(conn, consumer_name, envelope.id):
            return
        # From here on the message has written its claim: a failure must raise (the batch is
        # rolled back and replayed one message at a time), never Reject.
        if isinstance(event, SubjectHoldPlaced):
            await service.place_hold(conn, event)
        elif isinstance(event, SubjectHoldReleased):
            await service.release_hold(conn, event)
        elif isinstance(event, SubjectErasureApproved):
            await service.erase(conn, event)
        else:
            await service.withdraw_on_request(conn, event, command_id=envelope.id)

    return handle


