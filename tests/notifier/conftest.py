"""The notifier in-process, a real SMTP server (aiosmtpd), a real webhook receiver (uvicorn), on
the test's own database and broker; and factories for the events it consumes."""

from __future__ import annotations

import asyncio
import email
import email.policy
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import httpx
import pytest
from aiokafka import ConsumerRecord
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session
from asgi_lifespan import LifespanManager
from fastapi import FastAPI, Request, Response

from deploy.local_infra import free_port
from services.notifier.app import build_app
from services.notifier.service import NotifierService
from services.notifier.settings import NotifierSettings
from services.notifier.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature
from shared.cloudevents import new_event, to_kafka
from shared.events import EventData, RequestEvent
from tests.support import STAFF, Served

WEBHOOK_SECRET = "test-webhook-secret-0123456789"
#: Personal data the tests put into events and dead letters; it must never come out.
PERSONAL = ("patient-secret-7788", "Kim Min-ji", "1990-04-01", "010-1234-5678")


# --- a real SMTP server -------------------------------------------------------------------------


class SmtpSink:
    """aiosmtpd in the test's event loop on a fixed port: stop it and start it again at will."""

    def __init__(self, port: int | None = None, **smtp_options: Any) -> None:
        self.port = port or free_port()
        self.messages: list[EmailMessage] = []
        self.envelopes: list[Envelope] = []
        self.logins: list[str] = []
        self.options = smtp_options
        self._server: asyncio.Server | None = None

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        if session.authenticated:
            self.logins.append(str(session.auth_data.login, "utf-8") if isinstance(session.auth_data.login, bytes)
                               else str(session.auth_data.login))
        return "250 OK"

    async def start(self) -> SmtpSink:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: SMTP(self, hostname="smtp.test", **self.options), "127.0.0.1", self.port
        )
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if address in m["To"]]


def text_of(message: EmailMessage) -> str:
    return message.get_body(("plain",)).get_content()


def html_of(message: EmailMessage) -> str:
    return message.get_body(("html",)).get_content()


@pytest.fixture
async def smtp() -> AsyncIterator[SmtpSink]:
    sink = await SmtpSink().start()
    try:
        yield sink
    finally:
        await sink.stop()


def password_authenticator(username: str, password: str):
    def authenticate(server, session, envelope, mechanism, auth_data) -> AuthResult:
        ok = auth_data.login == username.encode() and auth_data.password == password.encode()
        return AuthResult(success=ok, auth_data=auth_data if ok else None)

    return authenticate


# --- a real webhook receiver --------------------------------------------------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    verified: bool


@dataclass
class Receiver:
    url: str
    calls: list[Received] = field(default_factory=list)
    status: int = 200

    def on(self, path: str) -> list[Received]:
        return [c for c in self.calls if c.path == path]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """POST /hooks/<name> is recorded and its signature checked; answers ``status``."""
    app = FastAPI()
    state = Receiver(url="")

    @app.post("/hooks/{name}")
    async def hook(name: str, request: Request) -> Response:
        body = await request.body()
        headers = dict(request.headers)
        verified = verify_signature(WEBHOOK_SECRET, headers.get(TIMESTAMP_HEADER.lower()), body,
                                    headers.get(SIGNATURE_HEADER.lower()))
        state.calls.append(Received(name, headers, body, verified))
        if name == "broken":
            return Response(status_code=503, content="receiver is down for maintenance")
        return Response(status_code=state.status if verified else 401)

    async with Served(app, free_port()) as served:
        state.url = served.url
        yield state


# --- the notifier -------------------------------------------------------------------------------


@dataclass
class NotifierHarness:
    app: FastAPI
    client: httpx.AsyncClient
    settings: NotifierSettings

    @property
    def service(self) -> NotifierService:
        return self.app.state.notifier

    @property
    def pool(self):
        return self.app.state.runtime.pool

    async def inbox(self, **params: Any) -> dict[str, Any]:
        response = await self.client.get("/v1/notifications", params={"limit": 200, **params}, headers=STAFF)
        assert response.status_code == 200, response.text
        return response.json()


def notifier_settings(database_url: str, bootstrap: str, **overrides: Any) -> NotifierSettings:
    values: dict[str, Any] = dict(
        DATABASE_URL=database_url,
        KAFKA_BOOTSTRAP_SERVERS=bootstrap,
        DONGUI_ENVIRONMENT="development",
        KAFKA_SESSION_TIMEOUT_MS=2000,
        KAFKA_HEARTBEAT_INTERVAL_MS=500,
        delivery_poll_interval=timedelta(milliseconds=100),
        retry_initial=timedelta(milliseconds=200),
        retry_max=timedelta(milliseconds=800),
        delivery_timeout=timedelta(seconds=3),
        delivery_lease=timedelta(seconds=10),
        digest_check_interval=timedelta(milliseconds=200),
        # What the manager is told, alone; the tests of what requesters are told turn it on.
        tell_requesters=False,
    )
    values.update(overrides)
    return NotifierSettings(**values)


@asynccontextmanager
async def running_notifier(settings: NotifierSettings, clock=None) -> AsyncIterator[NotifierHarness]:
    app = build_app(settings, clock=clock)
    async with LifespanManager(app, startup_timeout=60, shutdown_timeout=30) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://notifier", timeout=30) as client:
            yield NotifierHarness(app, client, settings)


# --- events -------------------------------------------------------------------------------------


def now() -> datetime:
    return datetime.now(UTC)


def reference() -> str:
    return "DSR-2026-" + uuid.uuid4().hex[:5].upper()


def request_fields(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = dict(
        request_id=str(uuid.uuid4()), reference=reference(), type="erasure", jurisdiction="KR", language="ko",
        status="verifying", subject_id=PERSONAL[0], by_guardian=False, child_own_request=False,
        due_at=datetime(2026, 11, 10, 9, 0, tzinfo=UTC), occurred_at=now(),
    )
    fields.update(overrides)
    return fields


def kafka_message(data: EventData, *, event_id: str | None = None, source: str = "dongui/dsr"):
    """(key, value, headers) of a structured CloudEvent carrying ``data``, as the outbox sends it."""
    event = new_event(source=source, type=data.event_type, subject=data.kafka_key(),
                      data=data.model_dump(mode="json"))
    if event_id is not None:
        event.id = event_id
    value, headers = to_kafka(event)
    return data.kafka_key().encode(), value, headers


def request_message(model: type[RequestEvent], **overrides: Any):
    return kafka_message(model(**request_fields(**overrides)))


def consumer_record(topic: str, value: bytes | None, headers: list[tuple[str, bytes]], offset: int = 7) -> ConsumerRecord:
    """A record as a consumer hands it to a handler (to replay one without a broker)."""
    return ConsumerRecord(topic=topic, partition=0, offset=offset, timestamp=1_767_225_600_000, timestamp_type=0,
                          key=None, value=value, checksum=None, serialized_key_size=-1,
                          serialized_value_size=len(value or b""), headers=headers)
