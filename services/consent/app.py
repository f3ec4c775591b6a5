"""The consent service's one wiring point: settings in, a ready FastAPI app out."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from services.consent.api import router
from services.consent.consumers import InboundHandler, dsr_events_handler
from services.consent.domain import PurposeCatalogue
from services.consent.grouping import GroupCommit
from services.consent.service import ConsentService
from services.consent.settings import ConsentSettings
from shared import directory
from shared.consumer import Consumer
from shared.crypto import SubjectKeys, parse_master_key
from shared.delegation import parse_secret as parse_delegation_secret
from shared.kafka_access import group
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
        app.state.consent_http = GroupCommit(service.recording, service.ledger, runtime.pool,
                                             workers=settings.http_commit_workers)
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
    settings = service.settings
    runtime.start_outbox_relay()

    def consumer(name: str, **handling: Any) -> Consumer:
        # Its name, topics and group: shared/kafka_access.py GROUPS, which the ACLs are made from.
        return Consumer(**group("consent", name).consumer_options(), pool=runtime.pool,
                        hub=runtime.hub, service="consent", batch_max=settings.consumer_batch_max, **handling)

    for worker in (
        consumer("inbound", batch_handler=InboundHandler(service.recording, runtime.keyring),
                 lanes=settings.inbound_lanes),
        consumer("dsr-events", handler=dsr_events_handler(service.commands, "consent-holds"),
                 from_services=True),
        consumer("systems", handler=directory.consumer_handler(
            "consent", parse_delegation_secret(settings.delegation_secret.get_secret_value()), runtime.signing_keys)),
    ):
        runtime.spawn(f"consumer:{worker.name}", worker.run)
