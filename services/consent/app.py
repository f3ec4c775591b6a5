"""The consent service's one wiring point: settings in, a ready FastAPI app out."""

from __future__ import annotations

from fastapi import FastAPI

from services.consent.api import router
from services.consent.consumers import dsr_events_handler, inbound_handler
from services.consent.domain import PurposeCatalogue
from services.consent.grouping import GroupCommit
from services.consent.service import ConsentService
from services.consent.settings import ConsentSettings
from shared.consumer import Consumer
from shared.crypto import SubjectKeys, parse_master_key
from shared.events import Topic
from shared.runtime import Runtime, create_app

DESCRIPTION = """
Records consent per purpose (from clinic systems over Kafka `consent.inbound` and HTTP), keeps
privacy-policy versions in ko/en/vi, and answers **"may this data be used for this purpose?"**.

Authenticate with `Authorization: Bearer <API key>`; errors are RFC 9457 problem details.
"""


def build_app(settings: ConsentSettings | None = None) -> FastAPI:
    settings = settings or ConsentSettings()
    purposes = PurposeCatalogue.load(settings.purposes_file)

    async def on_start(app: FastAPI, runtime: Runtime) -> None:
        service = ConsentService(settings, purposes, SubjectKeys(parse_master_key(settings.master_key.get_secret_value())))
        app.state.consent = service
        assert runtime.pool is not None
        app.state.consent_http = GroupCommit(service, runtime.pool, workers=settings.http_commit_workers)
        if not settings.run_workers:
            return
        start_workers(runtime, service)

    app = create_app(
        title="Dongui consent service",
        description=DESCRIPTION,
        settings=settings,
        runtime_factory=lambda s: Runtime(s, schema="consent"),
        on_start=on_start,
    )
    app.include_router(router)
    return app


def start_workers(runtime: Runtime, service: ConsentService) -> None:
    """The outbox relay and the two consumers; in the API process or in a worker process."""
    assert runtime.pool is not None
    settings = runtime.settings
    runtime.start_outbox_relay()
    for name, topics, handler, lanes in (
        ("inbound", [Topic.consent_inbound], inbound_handler(service), settings.inbound_lanes),
        ("dsr-events", [Topic.dsr_events], dsr_events_handler(service, "consent-holds"), 1),
    ):
        consumer = Consumer(
            name=name,
            topics=topics,
            group_id=f"dongui-consent-{name}",
            handler=handler,
            pool=runtime.pool,
            hub=runtime.hub,
            service="consent",
            batch_max=settings.consumer_batch_max,
            lanes=lanes,
        )
        runtime.spawn(f"consumer:{name}", consumer.run)
