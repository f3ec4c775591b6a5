"""The request service and the consent service, both served over real HTTP, on the test's own
database and broker."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from deploy.local_infra import free_port
from examples.clinic_systems.sample_data import SAMPLE_DATA, load_sample_systems
from examples.clinic_systems.system import ClinicSystem, Settings
from services.consent.app import build_app as build_consent
from services.dsr.app import build_app as build_dsr
from services.dsr.service import RequestService
from services.dsr.settings import DsrSettings
from tests.consent.conftest import consent_settings
from tests.support import MANAGER, STAFF, Served, eventually, policy_body

SYSTEM_IDS = ("emr", "website", "crm")


@dataclass
class Stack:
    dsr_app: FastAPI
    dsr: httpx.AsyncClient
    consent: httpx.AsyncClient
    database_url: str
    bootstrap: str

    @property
    def service(self) -> RequestService:
        return self.dsr_app.state.dsr

    @property
    def pool(self):
        return self.dsr_app.state.runtime.pool

    async def scheduler_passes(self, count: int) -> None:
        """Wait until the scheduler has made ``count`` more passes, and everything they wrote to
        the outbox is on the broker: what a pass started after a ``travel`` does is then there."""
        scheduler = self.dsr_app.state.scheduler
        target = scheduler.passes + count
        await eventually(lambda: _at_least(scheduler, target))
        await eventually(lambda: self._outbox_empty())

    async def _outbox_empty(self) -> bool:
        async with self.pool.acquire() as conn:
            return await conn.fetchval("SELECT count(*) FROM outbox") == 0

    def travel(self, delta: timedelta) -> None:
        """Move the request service's clock forward (deadlines, retries, destruction)."""
        base = self.service.clock
        self.service.clock = lambda: base() + delta


def dsr_settings(database_url: str, bootstrap: str, consent_url: str, **overrides) -> DsrSettings:
    values = dict(
        DATABASE_URL=database_url,
        KAFKA_BOOTSTRAP_SERVERS=bootstrap,
        DONGUI_ENVIRONMENT="development",
        KAFKA_SESSION_TIMEOUT_MS=2000,
        KAFKA_HEARTBEAT_INTERVAL_MS=500,
        outbox_poll_interval=timedelta(milliseconds=200),
        scheduler_interval=timedelta(milliseconds=300),
        consent_url=consent_url,
        intake_per_minute=1000,
    )
    values.update(overrides)
    return DsrSettings(**values)


@pytest.fixture
async def stack(database_url: str, kafka_bootstrap: str) -> AsyncIterator[Stack]:
    consent_app = build_consent(consent_settings(database_url, kafka_bootstrap))
    async with Served(consent_app, free_port()) as consent:
        dsr_app = build_dsr(dsr_settings(database_url, kafka_bootstrap, consent.url))
        async with Served(dsr_app, free_port()) as dsr:
            async with httpx.AsyncClient(base_url=dsr.url, timeout=30) as dsr_client, \
                    httpx.AsyncClient(base_url=consent.url, timeout=30) as consent_client:
                response = await consent_client.post("/v1/policies", json=policy_body(), headers=MANAGER)
                assert response.status_code == 201, response.text
                yield Stack(dsr_app, dsr_client, consent_client, database_url, kafka_bootstrap)


def now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture
async def clinic(stack) -> AsyncIterator:
    """Starts the example systems on demand (after the test set up what it needs). They take each
    subject's transit key from the stack's consent service, as ``make run`` configures them."""
    running: list[asyncio.Task] = []

    async def start(*, silent: tuple[str, ...] = (), data: Path = SAMPLE_DATA, report: bool = False) -> None:
        """``report``: the systems report what they hold, which starts the subjects' retention clocks."""
        stores = load_sample_systems(SYSTEM_IDS, path=data)
        settings = Settings(kafka_bootstrap_servers=stack.bootstrap, session_timeout_ms=2000,
                            heartbeat_interval_ms=500, dsr_url=str(stack.dsr.base_url), dsr_api_key="dev-manager",
                            consent_url=str(stack.consent.base_url), consent_api_key="dev-system",
                            report_records=report)
        running.extend(asyncio.create_task(ClinicSystem(stores[i], settings, silent=i in silent).run())
                       for i in SYSTEM_IDS)
        await eventually(lambda: _registered(stack))

    async def register_only() -> None:
        """The systems are known but not running yet: their tasks wait on the topic."""
        for handler in load_sample_systems(SYSTEM_IDS).values():
            response = await stack.dsr.post("/v1/systems", json=handler.registration(), headers=MANAGER)
            assert response.status_code in (200, 201), response.text

    start.register_only = register_only
    yield start
    for task in running:
        task.cancel()
    await asyncio.gather(*running, return_exceptions=True)


async def _registered(stack) -> bool:
    systems = (await stack.dsr.get("/v1/systems", headers=STAFF)).json()
    return {s["system_id"] for s in systems} == set(SYSTEM_IDS)


async def _at_least(scheduler, target: int) -> bool:
    return scheduler.passes >= target
