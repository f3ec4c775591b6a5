"""Kafka handlers of the request service. Each runs inside the consumer's batch transaction."""

from __future__ import annotations

import asyncpg
from aiokafka import ConsumerRecord
from pydantic import ValidationError

from services.dsr.service import RequestService
from shared.consumer import Reject, claim, read_event
from shared.events import TaskResult
from shared.problems import Problem


def task_results_handler(service: RequestService, consumer_name: str):
    """dsr.task-results: a clinic system's answer to a task."""

    async def handle(conn: asyncpg.Connection, message: ConsumerRecord) -> None:
        envelope = read_event(message)
        if envelope.type != TaskResult.event_type:
            raise Reject(f"Unknown event type '{envelope.type}'; dsr.task-results accepts {TaskResult.event_type}.")
        try:
            result = TaskResult.model_validate(envelope.data)
        except ValidationError as exc:
            first = exc.errors()[0]
            raise Reject(f"invalid {TaskResult.event_type}: data.{'.'.join(map(str, first['loc']))}: {first['msg']}") from None
        try:
            # Checks come before writes (record_result raises before it writes), as Reject requires.
            if await _seen(conn, consumer_name, envelope.id):
                return
            await service.record_result(conn, result)
        except Problem as exc:
            raise Reject(f"{exc.status} {exc.title}: {exc.detail}") from None
        await claim(conn, consumer_name, envelope.id)

    return handle


async def _seen(conn: asyncpg.Connection, consumer: str, event_id: str) -> bool:
    return bool(await conn.fetchval(
        "SELECT true FROM processed_events WHERE consumer = $1 AND event_id = $2", consumer, event_id
    ))
