"""Helpers the tests share: factories with keyword arguments, Kafka I/O, polling."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from shared import recordsig, servicesig
from shared.delegation import DEVELOPMENT_SECRET, parse_secret
from shared.events import SERVICE_TOPICS, SIGNED_TOPICS
from shared.kafka import TOPIC_CONFIGS

T = TypeVar("T")

SYSTEM = {"Authorization": "Bearer dev-system"}
STAFF = {"Authorization": "Bearer dev-staff"}
MANAGER = {"Authorization": "Bearer dev-manager"}

POLICY_ID = "privacy-notice"
ALL_PURPOSES = [
    "treatment", "membership", "sensitive_health", "marketing_email", "marketing_sms",
    "marketing_night", "cookies_analytics", "model_photos", "third_party_provision",
]


def random_id(prefix: str = "subject") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def policy_body(*, policy_id: str = POLICY_ID, version: str = "1", effective_at: str = "2026-01-01T00:00:00+09:00",
                purposes: list[str] | None = None) -> dict[str, Any]:
    return {
        "policy_id": policy_id,
        "version": version,
        "effective_at": effective_at,
        "texts": {
            "ko": f"개인정보 처리방침 {version}",
            "en": f"Privacy notice {version}",
            "vi": f"Chính sách quyền riêng tư {version}",
        },
        "purposes": purposes or ALL_PURPOSES,
    }


def consent_event(
    *,
    type: str = "consent.granted",
    subject_id: str | None = None,
    purpose: str = "marketing_email",
    birth_date: str | None = "1990-04-01",
    actor: dict[str, Any] | None = None,
    policy_version: str = "1",
    jurisdiction: str | None = None,
    time: str | None = None,
    event_id: str | None = None,
    language: str = "ko",
    method: str = "web",
) -> dict[str, Any]:
    subject_id = subject_id or random_id()
    data: dict[str, Any] = {
        "subject_id": subject_id,
        "purpose": purpose,
        "policy_id": POLICY_ID,
        "policy_version": policy_version,
        "language": language,
        "method": method,
        "actor": actor or {"role": "self"},
        "evidence": {"form_id": "signup-v3", "ip": "203.0.113.7"},
    }
    if birth_date is not None:
        data["subject_birth_date"] = birth_date
    if jurisdiction is not None:
        data["jurisdiction"] = jurisdiction
    event: dict[str, Any] = {
        "specversion": "1.0",
        "id": event_id or str(uuid.uuid4()),
        "source": "clinic/website",
        "type": type,
        "subject": subject_id,
        "datacontenttype": "application/json",
        "data": data,
    }
    if time is not None:
        event["time"] = time
    return event


def guardian(name: str = "Nguyễn Thị Lan", relationship: str = "mother") -> dict[str, Any]:
    return {"role": "legal_representative", "name": name, "relationship": relationship}


#: The development key: it signs as the example website (source clinic/website), in development only.
DEV_SYSTEM_KEY = "dev-system"

Message = tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]


def signed(topic: str, message: Message, api_key: str = DEV_SYSTEM_KEY) -> Message:
    """The message signed for ``topic`` by the clinic system whose API key this is (any signature
    it had replaced)."""
    key, value, headers = message
    return key, value, recordsig.signed(topic, value, headers, api_key)


#: What the services of the tests (the development DONGUI_DELEGATION_SECRET) sign their records with.
SERVICES = servicesig.ServiceRecords(parse_secret(DEVELOPMENT_SECRET))


def by_services(topic: str, message: Message) -> Message:
    """The message as a service of the tests would produce it on ``topic`` (shared/servicesig.py)."""
    key, value, headers = message
    return key, value, SERVICES.signed(topic, value, headers)


def api_key(headers: dict[str, str]) -> str:
    """The API key in ``{"Authorization": "Bearer <key>"}``."""
    return headers["Authorization"].removeprefix("Bearer ")


async def produce(bootstrap: str, topic: str, messages: list[Message], *,
                  signed_by: str | None = DEV_SYSTEM_KEY, as_services: bool = True, together: bool = False) -> None:
    """Send (key, value, headers) messages and wait for the broker's acknowledgement.

    One at a time, each acknowledged before the next is sent; ``together``: all sent, then all
    acknowledged (in the fewest batches the producer makes, in order within each partition).

    On the topics clinic systems sign (:data:`SIGNED_TOPICS`), each message without a
    ``dongui-signature`` header is signed with the API key ``signed_by`` (by default the development
    key, the example website's); ``signed_by=None`` sends them as they are. On the services' own
    topics (:data:`SERVICE_TOPICS`), each message without a signature is signed as the services
    sign (``as_services=False``: sent as it is, as anyone else would write it).
    """
    if topic in SIGNED_TOPICS and signed_by is not None:
        messages = [m if any(k == recordsig.HEADER for k, _ in m[2]) else signed(topic, m, signed_by)
                    for m in messages]
    if topic in SERVICE_TOPICS and as_services:
        ours = (recordsig.HEADER, servicesig.HEADER)
        messages = [m if any(k in ours for k, _ in m[2]) else by_services(topic, m) for m in messages]
    await ensure_topic(bootstrap, topic)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False, acks="all")
    await producer.start()
    try:
        if together:
            sent = [await producer.send(topic, value=value, key=key, headers=headers) for key, value, headers in messages]
            await asyncio.gather(*sent)
        else:
            for key, value, headers in messages:
                await producer.send_and_wait(topic, value=value, key=key, headers=headers)
    finally:
        await producer.stop()


async def ensure_topic(bootstrap: str, topic: str) -> None:
    """Create ``topic`` as the service owning it would, unless it exists.

    A test often plays a service that is not running (the request service sending tasks, say). Its
    topic must then exist before anything is sent: Apache Kafka here creates no topic on its own
    (``auto.create.topics.enable=false``, as in production), the services do at start.
    """
    await ensure_topics(bootstrap, [topic])


async def ensure_topics(bootstrap: str, topics: Iterable[str], **client_options: Any) -> None:
    """Create each of ``topics`` that is missing (as :func:`ensure_topic`), connecting with
    ``client_options`` (the admin's SASL login on a broker with ACLs)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **client_options)
    await admin.start()
    try:
        missing = sorted(set(topics) - set(await admin.list_topics()))
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics([NewTopic(t, num_partitions=3, replication_factor=1,
                                                    topic_configs=TOPIC_CONFIGS.get(t, {})) for t in missing])
            for topic in missing:
                await eventually(lambda t=topic: _listed(admin, t), timeout=10)
    finally:
        await admin.close()


async def _listed(admin: AIOKafkaAdminClient, topic: str) -> bool:
    await admin._client.force_metadata_update()
    return topic in await admin.list_topics()


def structured(event: dict[str, Any]) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    key = event["data"]["subject_id"].encode()
    return key, json.dumps(event).encode(), [("content-type", b"application/cloudevents+json")]


def binary(event: dict[str, Any]) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    headers = [(f"ce_{k}", str(v).encode()) for k, v in event.items() if k not in ("data", "datacontenttype")]
    headers.append(("content-type", b"application/json"))
    return event["data"]["subject_id"].encode(), json.dumps(event["data"]).encode(), headers


async def _read(bootstrap: str, topic: str, *, seconds: float, enough=lambda got: False,
                to_end: bool = False, to_end_within: float = 20.0) -> list[ConsumerRecord]:
    """Read ``topic`` from its start for ``seconds`` or until ``enough``.

    ``to_end``: also go on past ``seconds`` (up to ``to_end_within``) until every partition has
    been read up to the end it had when it was assigned, so that a slow start of this consumer
    cannot make messages that were already there look absent.
    """
    await ensure_topic(bootstrap, topic)  # aiokafka's consumer does not start on a topic that is not there
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False, group_id=None)
    await consumer.start()
    got: list[ConsumerRecord] = []
    started = time.monotonic()
    ends: dict[Any, int] | None = None

    async def behind() -> bool:
        if ends is None:  # nothing assigned: an absent topic
            return False
        for tp, end in ends.items():
            if await consumer.position(tp) < end:
                return True
        return False

    try:
        while not enough(got):
            elapsed = time.monotonic() - started
            if elapsed >= seconds and not (to_end and elapsed < to_end_within and await behind()):
                break
            for batch in (await consumer.getmany(timeout_ms=200)).values():
                got.extend(batch)
            if to_end and ends is None and consumer.assignment():
                ends = await consumer.end_offsets(list(consumer.assignment()))
    finally:
        await consumer.stop()
    return got


async def consume(bootstrap: str, topic: str, *, count: int, timeout: float = 20.0) -> list[ConsumerRecord]:
    """Read at least ``count`` messages from the start of ``topic`` (no consumer group), or fail."""
    got = await _read(bootstrap, topic, seconds=timeout, enough=lambda got: len(got) >= count)
    assert len(got) >= count, f"expected {count} messages on {topic}, got {len(got)}"
    return got


async def drain(bootstrap: str, topic: str, *, seconds: float = 2.0) -> list[ConsumerRecord]:
    """Everything on ``topic`` from the start: read for ``seconds`` (to catch late arrivals) and at
    least to the end the topic had when this read began (an absent topic is empty)."""
    return await _read(bootstrap, topic, seconds=seconds, to_end=True)


WATERMARK_HEADER = "dongui-test-watermark"


async def _partitions(bootstrap: str, topic: str) -> list[int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        return sorted(consumer.partitions_for_topic(topic) or ())
    finally:
        await consumer.stop()


async def _watermarks(bootstrap: str, topic: str, value: bytes) -> dict[TopicPartition, int]:
    """One watermark record on each partition of ``topic``: where it landed, as acknowledged.

    The broker's own end offsets are not used: Tansu reports the start of a partition's last
    batch as its end (seen with batches from a relay), which would cut a read short.
    """
    partitions = await _partitions(bootstrap, topic)
    marks: dict[TopicPartition, int] = {}
    if not partitions:
        return marks
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False, acks="all")
    await producer.start()
    try:
        for p in partitions:
            mark = uuid.uuid4().hex.encode()
            headers = [(WATERMARK_HEADER, mark)]
            if topic in SERVICE_TOPICS:  # as a service would write it: a consumer there ignores it
                headers = SERVICES.signed(topic, value, headers)
            # Keyed: Apache Kafka refuses a record without a key on a compacted topic (dsr.systems).
            sent = await producer.send_and_wait(topic, value=value, key=b"watermark-" + mark, partition=p, headers=headers)
            marks[TopicPartition(topic, p)] = sent.offset
    finally:
        await producer.stop()
    return marks


async def read_to_end(bootstrap: str, topic: str, *, timeout: float = 20.0) -> list[ConsumerRecord]:
    """Everything on ``topic`` before a watermark written to each of its partitions now (an
    absent topic is empty), the watermarks left out. After a point that guarantees whatever
    was coming is acknowledged (``processed_to_end``, an empty outbox, a stopped producer),
    this asserts "nothing else arrived" without a sleep: a late arrival is behind its mark."""
    marks = await _watermarks(bootstrap, topic, b"")
    got: list[ConsumerRecord] = []
    if not marks:
        return got
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                auto_offset_reset="earliest")
    await consumer.start()
    try:
        consumer.assign(list(marks))
        await consumer.seek_to_beginning(*marks)
        deadline = time.monotonic() + timeout
        waiting = dict(marks)
        while waiting:
            assert time.monotonic() < deadline, f"the watermarks on {topic} did not come back within {timeout}s"
            for tp, batch in (await consumer.getmany(*marks, timeout_ms=200)).items():
                got.extend(r for r in batch if r.offset < marks[tp]
                           and not any(k == WATERMARK_HEADER for k, _ in r.headers or ()))
                if any(r.offset >= marks[tp] for r in batch):
                    waiting.pop(tp, None)
    finally:
        await consumer.stop()
    return got


def _watermark_event() -> bytes:
    return json.dumps({"specversion": "1.0", "id": str(uuid.uuid4()), "source": "tests/watermark",
                       "type": "dongui.test.watermark", "data": {}}).encode()


async def processed_to_end(bootstrap: str, group_id: str, topic: str, watermark: bytes | None = None, *,
                           timeout: float = 30.0) -> None:
    """Write a watermark (by default a CloudEvent of a type no service knows) to each partition
    of ``topic`` and wait until consumer group ``group_id`` has committed past it.

    Call it after the messages under test were produced: they sit before the watermark in every
    partition, and a consumer commits an offset only once everything before it is handled and
    its dead letters are acknowledged (shared/consumer.py), so whatever they were going to cause
    is there by then. Read it with ``read_to_end`` (which leaves out a dead letter of the
    watermark itself: it keeps the watermark's header).
    """
    marks = await _watermarks(bootstrap, topic, watermark or _watermark_event())
    # In the group, to read its committed offsets, but never subscribed: it takes no partition.
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group_id, enable_auto_commit=False)
    await reader.start()
    try:
        async def past() -> bool:
            for tp, mark in marks.items():
                committed = await reader.committed(tp)
                if committed is None or committed <= mark:
                    return False
            return True

        await eventually(past, timeout=timeout)
    finally:
        await reader.stop()


async def eventually(check: Callable[[], Awaitable[T]], *, timeout: float = 20.0, interval: float = 0.1) -> T:
    """Poll ``check`` until it returns a truthy value (and return it) or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last value: {last!r})")


class Served:
    """An ASGI app served by uvicorn on a loopback port inside the test's event loop: real HTTP."""

    def __init__(self, app, port: int, **options) -> None:
        """``options``: uvicorn's, over these (``shared.runtime.server_options``, as a service runs)."""
        import uvicorn

        self.url = f"http://127.0.0.1:{port}"
        config = {"host": "127.0.0.1", "port": port, "log_config": None, "timeout_graceful_shutdown": 5, **options}
        self.server = uvicorn.Server(uvicorn.Config(app, lifespan="on", **config))
        self._task: asyncio.Task | None = None

    async def __aenter__(self) -> Served:
        self._task = asyncio.create_task(self.server.serve())
        deadline = time.monotonic() + 60
        while not self.server.started:
            if self._task.done():
                self._task.result()  # raises the start-up error
                raise AssertionError("the server stopped during start-up")
            assert time.monotonic() < deadline, "the server did not start within 60s"
            await asyncio.sleep(0.05)
        return self

    async def __aexit__(self, *exc) -> None:
        self.server.should_exit = True
        assert self._task is not None
        await self._task
