"""The request service and the consent service, both served over real HTTP, on the test's own
database and broker."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI

from deploy.local_infra import free_port
from services.consent.app import build_app as build_consent
from services.dsr.app import build_app as build_dsr
from services.dsr.service import RequestService
from services.dsr.settings import DsrSettings
from tests.consent.conftest import consent_settings
from tests.support import MANAGER, Served, policy_body


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
