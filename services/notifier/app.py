"""The notifier's one wiring point: settings in, a ready FastAPI app out."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from fastapi import FastAPI

from services.notifier.api import router
from services.notifier.channels import EmailChannel, WebhookChannel
from services.notifier.consumers import DeadLetterConsumer, dead_letters_handler, events_handler
from services.notifier.delivery import Channel, DeliveryWorker
from services.notifier.digest import DigestScheduler
from services.notifier.render import Renderer
from services.notifier.requesters import (
    ACKNOWLEDGEMENT,
    REQUESTER,
    AcknowledgementChannel,
    RequesterChannel,
    RequestServiceClient,
    sms_sender,
)
from services.notifier.service import NotifierService
from services.notifier.settings import NotifierSettings
from shared import directory
from shared.consumer import Consumer
from shared.delegation import parse_secret as parse_delegation_secret
from shared.kafka_access import group
from shared.runtime import Runtime, create_app

log = logging.getLogger(__name__)

DESCRIPTION = """
Tells the privacy manager ("personal information management director") what needs them: new
requests (a guardian's for a child, a child's own), requests awaiting a decision, deadlines
approaching and missed, acknowledgements overdue, refusals and objections, tasks a clinic system did
not answer, policy versions published, messages a service could not process, and a daily digest of
consent withdrawals; by email, signed webhook and this inbox, in Korean, English or Vietnamese.
Tells each requester, in their language, by the email or phone they gave, that their request was
received, extended, refused, needs more from them, or has its result ready.

Authenticate with `Authorization: Bearer <API key>` (staff, privacy_manager); errors are RFC 9457
problem details.
"""


class NotifierRuntime(Runtime):
    """The shared runtime, plus the webhook and request-service HTTP clients (closed at shutdown)."""

    def __init__(self, settings: NotifierSettings) -> None:
        super().__init__(settings, schema="notifier")
        self.webhooks = WebhookChannel(settings)
        self.requests = RequestServiceClient(settings)
        self.sms = sms_sender(settings)

    async def stop(self) -> None:
        await super().stop()
        await self.webhooks.close()
        await self.requests.close()


def build_app(settings: NotifierSettings | None = None, *,
              clock: Callable[[], datetime] | None = None) -> FastAPI:
    """``clock``: the digest's notion of now (tests move it); the real time by default."""
    settings = settings or NotifierSettings()
    renderer = Renderer(zone=settings.zone, dashboard_url=settings.dashboard_url, policy_url=settings.policy_url,
                        breach_url=settings.breach_url)

    async def on_start(app: FastAPI, runtime: Runtime) -> None:
        assert isinstance(runtime, NotifierRuntime)
        service = NotifierService(settings, renderer, **({"clock": clock} if clock else {}))
        app.state.notifier = service
        _log_channels(settings)
        if settings.run_workers:
            start_workers(runtime, service, renderer)

    app = create_app(
        title="Dongui notifier",
        description=DESCRIPTION,
        settings=settings,
        runtime_factory=lambda _: NotifierRuntime(settings),
        on_start=on_start,
    )
    app.include_router(router)
    return app


def _log_channels(settings: NotifierSettings) -> None:
    if settings.email_enabled:
        log.info("email on: %s:%d (%s)", settings.smtp_host, settings.effective_smtp_port, settings.smtp_tls)
    else:
        if settings.tell_requesters:
            log.warning("email is off (NOTIFIER_SMTP_HOST is empty): requesters who gave an email address are not told")
        with_email = [r.id for r in settings.recipients if r.email]
        if with_email:
            log.warning("email is off (NOTIFIER_SMTP_HOST is empty): %s get the inbox and webhooks only",
                        ", ".join(with_email))


def start_workers(runtime: NotifierRuntime, service: NotifierService, renderer: Renderer) -> None:
    """Two consumers, the delivery worker and the digest; in the API process or a worker process."""
    assert runtime.pool is not None
    settings = service.settings
    common = dict(pool=runtime.pool, hub=runtime.hub, service="notifier", batch_max=settings.consumer_batch_max)
    # Names, topics and groups: shared/kafka_access.py GROUPS, which the ACLs are made from.
    events = Consumer(**group("notifier", "events").consumer_options(), handler=events_handler(service),
                      from_services=True, **common)
    runtime.spawn("consumer:events", events.run)
    systems = Consumer(**group("notifier", "systems").consumer_options(),
                       handler=directory.consumer_handler(
                           "notifier", parse_delegation_secret(settings.delegation_secret.get_secret_value()),
                           runtime.signing_keys), **common)
    runtime.spawn("consumer:systems", systems.run)
    # A consumer of its own, so that a slow or failing dead letter never holds up the events.
    dead_letters = DeadLetterConsumer(notifier=service, **group("notifier", "dead-letters").consumer_options(),
                                      handler=dead_letters_handler(service), from_services=True, **common)
    runtime.spawn("consumer:dead-letters", dead_letters.run)
    channels: dict[str, Channel] = {"email": EmailChannel(settings, renderer), "webhook": runtime.webhooks,
                REQUESTER: RequesterChannel(settings, renderer, runtime.requests, runtime.sms),
                ACKNOWLEDGEMENT: AcknowledgementChannel(runtime.requests)}
    worker = DeliveryWorker(runtime.pool, settings, channels, dsn=settings.database_url,
                            on_requester_failed=service.requester_not_told)
    runtime.spawn("delivery", worker.run)
    digest = DigestScheduler(runtime.pool, service, interval=settings.digest_check_interval.total_seconds())
    runtime.spawn("digest", digest.run)
