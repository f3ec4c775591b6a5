"""Kafka handlers of the request service. Each runs inside the consumer's batch transaction."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from aiokafka import ConsumerRecord
from pydantic import ValidationError

from services.dsr import store
from services.dsr.consent_client import TransitKeyGone
from services.dsr.context import TransitKeyLookup
from services.dsr.service import RequestService
from shared.auth import KeyRing
from shared.cloudevents import InvalidEvent, from_kafka
from shared.consumer import MAX_EVENT_BYTES, Consumer, Reject, claim, read_event
from shared.events import TaskResult
from shared.problems import Problem
from shared.recordsig import SignatureRefused

log = logging.getLogger(__name__)


class BatchTransitKeys:
    """The transit keys of the sealed answers in one batch, fetched before its transaction.

    Only for answers signed by a live key of a clinic system (checked first, from memory: an
    unsigned or forged record never makes the request service ask the consent service for a key)
    naming a task of that same subject (a made-up subject id never reaches the consent service).
    Kept for the batch only: a key destroyed later must stop working at once.
    """

    def __init__(self, lookup: TransitKeyLookup, keyring: KeyRing) -> None:
        self._lookup = lookup
        self._keyring = keyring
        self._keys: dict[str, bytes | None] = {}

    def clear(self) -> None:
        self._keys.clear()

    async def key_for(self, subject_id: str) -> bytes | None:
        """The key (None: destroyed, the subject was erased). KeyError if it was not fetched:
        never asked of the consent service here, inside the batch's transaction."""
        return self._keys[subject_id]

    async def fetch(self, pool: asyncpg.Pool, records: list[ConsumerRecord]) -> None:
        """Raises :class:`shared.problems.Unavailable` when the consent service cannot answer now."""
        self._keys.clear()
        wanted: dict[uuid.UUID, str] = {}
        for record in records:
            value = record.value or b""
            if len(value) > MAX_EVENT_BYTES or b'"sealed"' not in value:
                continue  # nothing sealed here; the handler refuses what it must
            try:
                self._keyring.record_signer(record.topic, record.value, record.headers)
            except SignatureRefused:
                continue  # the handler dead-letters it, without a key
            try:
                data = from_kafka(value, record.headers, record.key).data
            except (InvalidEvent, ValueError, RecursionError):
                continue  # the handler dead-letters it
            if not isinstance(data, dict) or not data.get("sealed"):
                continue
            task_id, subject_id = data.get("task_id"), data.get("subject_id")
            try:
                wanted[uuid.UUID(str(task_id))] = str(subject_id)
            except ValueError:
                continue
        if not wanted:
            return
        async with pool.acquire() as conn:
            known = await store.task_subjects(conn, list(wanted))
        subjects = {subject for task_id, subject in known.items() if subject is not None and wanted[task_id] == subject}
        for subject_id in sorted(subjects):
            try:
                self._keys[subject_id] = await self._lookup(subject_id)
            except TransitKeyGone:
                self._keys[subject_id] = None


class TaskResultsConsumer(Consumer):
    """The ``dsr.task-results`` consumer: the transit keys its batch needs are fetched from the
    consent service before the batch's transaction. If the consent service cannot answer, the
    batch fails as a whole and the consumer replays it from its first offset after a pause, like
    a database outage: an answer is never dead-lettered or lost because consent was away."""

    def __init__(self, *, transit_keys: BatchTransitKeys, **options: Any) -> None:
        super().__init__(**options)
        self.transit_keys = transit_keys

    async def process(self, records: list[ConsumerRecord]) -> None:
        await self.transit_keys.fetch(self.pool, records)
        try:
            await super().process(records)
        finally:
            self.transit_keys.clear()


def task_results_handler(service: RequestService, consumer_name: str, transit_keys: BatchTransitKeys,
                         keyring: KeyRing) -> Callable[[asyncpg.Connection, ConsumerRecord], Awaitable[None]]:
    """dsr.task-results: a clinic system's answer to one of its own tasks, signed with its own key
    (``shared.recordsig``) and sent as its own source."""

    async def handle(conn: asyncpg.Connection, message: ConsumerRecord) -> None:
        # Signed by a live key of a clinic system (shared/recordsig.py), from memory.
        try:
            signer = keyring.record_signer(message.topic, message.value, message.headers)
        except SignatureRefused as exc:
            raise Reject(f"401 Unauthorized: {exc.reason}") from None
        envelope = read_event(message)
        if envelope.type != TaskResult.event_type:
            raise Reject(f"Unknown event type '{envelope.type}'; dsr.task-results accepts {TaskResult.event_type}.")
        try:
            result = TaskResult.model_validate(envelope.data)
        except ValidationError as exc:
            first = exc.errors()[0]
            raise Reject(f"invalid {TaskResult.event_type}: data.{'.'.join(map(str, first['loc']))}: {first['msg']}") from None
        sender = keyring.system_with_source(envelope.source)
        if sender is None:
            raise Reject(f"403 Forbidden: the source '{envelope.source}' is not that of an active clinic system; "
                         f"a system answers as the source the privacy manager registered for it.")
        if sender.system_id != result.system_id:
            raise Reject(f"403 Forbidden: the source '{envelope.source}' is the system '{sender.system_id}', which "
                         f"answers only its own tasks, not '{result.system_id}''s.")
        if signer != sender.system_id:
            raise Reject(f"403 Forbidden: signed by the system '{signer}', which answers only its own tasks, not "
                         f"'{result.system_id}''s (the source '{envelope.source}' is not its own).")
        # The same answer has the same digest however it came (structured or binary). The sealed
        # part is left out: a system re-sending its answer may seal it again, with a new nonce.
        digest = envelope.digest(data=result.model_dump(mode="json", exclude={"sealed"}))
        try:
            # Checks come before writes (record_result raises before it writes), as Reject requires.
            seen, earlier = await store.claimed_digest(conn, consumer_name, envelope.id)
            if seen:
                if earlier is not None and earlier != digest:
                    raise Reject(
                        f"409 Conflict: event id '{envelope.id}' was already used for another answer "
                        f"(its task, outcome or clear fields differ); an id may be reused only to send "
                        f"the same answer again. This one was not recorded."
                    )
                return
            # An answer that names its task rightly is of a subject whose key the batch fetched.
            result = await service.opened(conn, result, transit_keys.key_for)
            await service.record_result(conn, result)
        except Problem as exc:
            raise Reject(f"{exc.status} {exc.title}: {exc.detail}") from None
        await claim(conn, consumer_name, envelope.id, digest=digest)

    return handle

