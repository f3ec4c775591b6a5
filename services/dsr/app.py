"""The request service's one wiring point: settings in, a ready FastAPI app out."""

from __future__ import annotations

from fastapi import FastAPI

from services.dsr.api import IntakeLimiter, router
from services.dsr.api_provisions import router as provisions_router
from services.dsr.api_requester import router as requester_router
from services.dsr.api_systems import router as systems_router
from services.dsr.breaches.api import router as breaches_router
from services.dsr.consent_client import ConsentClient
from services.dsr.consumers import BatchTransitKeys, TaskResultsConsumer, task_results_handler
from services.dsr.context import Context, TransitKeyLookup
from services.dsr.dashboard import install_dashboard
from services.dsr.destruction.api import records_router
from services.dsr.destruction.api import router as destructions_router
from services.dsr.destruction.consumer import WithdrawalsConsumer
from services.dsr.intake import Intake
from services.dsr.lifecycle import Lifecycle
from services.dsr.portal import install_portal
from services.dsr.reading import Reading
from services.dsr.results import Results
from services.dsr.scheduler import Scheduler
from services.dsr.service import RequestService
from services.dsr.settings import DsrSettings
from services.dsr.systems import Systems
from services.dsr.tasks import Tasks
from services.dsr.workflow import Workflow
from shared.crypto import SubjectKeys, parse_master_key
from shared.directory import Directory
from shared.kafka_access import group
from shared.runtime import Runtime, create_app, signing_keys

DESCRIPTION = """
Data-subject requests: view (access), correct, delete, restrict, withdraw consent or membership,
object; by the person, their legal representative (a guardian for a child) or an agent.
Verification, deadlines per jurisdiction, fan-out to the clinic systems, legal retention, results.

`POST /v1/requests` is public. Staff use `Authorization: Bearer <API key>`; the requester uses the
token returned when filing. Errors are RFC 9457 problem details.
"""


class DsrRuntime(Runtime):
    """The shared runtime, plus the HTTP client to the consent service."""

    def __init__(self, settings: DsrSettings) -> None:
        super().__init__(settings, schema="dsr")
        self.consent = ConsentClient(settings.consent_url, settings.consent_api_key.get_secret_value())

    async def stop(self) -> None:
        await super().stop()
        await self.consent.close()


def build_service(settings: DsrSettings, keys: SubjectKeys, *, transit_key: TransitKeyLookup | None = None,
                  directory: Directory | None = None) -> RequestService:
    """The service's parts over one shared context (settings, keys, clock, transit keys), and this
    replica's directory of systems, which a change to the registry reloads."""
    ctx = Context(settings, keys, transit_key=transit_key)
    lifecycle = Lifecycle(ctx)
    reading = Reading(ctx)
    tasks = Tasks(ctx, lifecycle)
    return RequestService(
        ctx, lifecycle=lifecycle, reading=reading, tasks=tasks,
        intake=Intake(ctx, lifecycle, reading),
        workflow=Workflow(ctx, lifecycle, reading, tasks),
        results=Results(ctx),
        systems=Systems(ctx, tasks, signing_keys(settings), directory),
    )


def build_app(settings: DsrSettings | None = None) -> FastAPI:
    settings = settings or DsrSettings()

    async def on_start(app: FastAPI, runtime: Runtime) -> None:
        assert isinstance(runtime, DsrRuntime)
        keys = SubjectKeys(parse_master_key(settings.master_key.get_secret_value()))
        service = build_service(settings, keys, transit_key=runtime.consent.transit_key, directory=runtime.directory)
        app.state.dsr = service
        app.state.consent_client = runtime.consent
        app.state.intake_limiter = IntakeLimiter(settings.intake_per_minute)
        if settings.run_workers:
            app.state.scheduler = start_workers(runtime, service)

    app = create_app(
        title="Dongui data-subject request service",
        description=DESCRIPTION,
        settings=settings,
        runtime_factory=lambda _: DsrRuntime(settings),  # the settings given above, as a DsrSettings
        on_start=on_start,
    )
    app.include_router(router)
    app.include_router(requester_router)
    app.include_router(systems_router)
    app.include_router(breaches_router)
    app.include_router(provisions_router)
    app.include_router(destructions_router)
    app.include_router(records_router)
    install_dashboard(app)  # the staff dashboard, /dashboard/ (its state: the dashboard router's lifespan)
    install_portal(app)  # the guardian portal, /portal/
    return app


def start_workers(runtime: DsrRuntime, service: RequestService) -> Scheduler:
    """The outbox relay, the task-results consumer, the withdrawals consumer (destructions) and the
    deadline scheduler (returned)."""
    assert runtime.pool is not None
    settings = service.settings
    runtime.start_outbox_relay()

    async def transit_key(subject_id: str) -> bytes:
        # The service's lookup at each call: it is the one place that says how keys are asked.
        lookup = service.transit_key
        assert lookup is not None, "the request service always has the consent service's transit keys"
        return await lookup(subject_id)

    transit_keys = BatchTransitKeys(transit_key, runtime.keyring)
    consumer = TaskResultsConsumer(
        transit_keys=transit_keys,
        **group("dsr", "task-results").consumer_options(),  # shared/kafka_access.py, as the ACLs
        handler=task_results_handler(service, "dsr-task-results", transit_keys, runtime.keyring),
        pool=runtime.pool,
        hub=runtime.hub,
        service="dsr",
        batch_max=settings.consumer_batch_max,
    )
    runtime.spawn("consumer:task-results", consumer.run)
    withdrawals = WithdrawalsConsumer(
        destructions=service.destructions,
        granted=runtime.consent.granted,
        **group("dsr", "withdrawals").consumer_options(),
        pool=runtime.pool,
        hub=runtime.hub,
        service="dsr",
        batch_max=settings.consumer_batch_max,
    )
    runtime.spawn("consumer:withdrawals", withdrawals.run)
    scheduler = Scheduler(runtime.pool, service, interval=settings.scheduler_interval.total_seconds())
    runtime.spawn("scheduler", scheduler.run)
    return scheduler
