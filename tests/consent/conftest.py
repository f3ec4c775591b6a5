"""A consent service per test, in-process over ASGI, on the test's own database and broker."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from services.consent.app import build_app
from services.consent.service import ConsentService
from services.consent.settings import ConsentSettings
from tests.support import MANAGER, policy_body


@dataclass
class ConsentHarness:
    app: FastAPI
    client: httpx.AsyncClient
    settings: ConsentSettings

    @property
    def service(self) -> ConsentService:
        return self.app.state.consent

    @property
    def pool(self):
        return self.app.state.runtime.pool


def consent_settings(database_url: str, bootstrap: str, **overrides) -> ConsentSettings:
    return ConsentSettings(
        DATABASE_URL=database_url,
        KAFKA_BOOTSTRAP_SERVERS=bootstrap,
        DONGUI_ENVIRONMENT="development",
        outbox_poll_interval=timedelta(milliseconds=200),
        KAFKA_SESSION_TIMEOUT_MS=2000,
        KAFKA_HEARTBEAT_INTERVAL_MS=500,
        **overrides,
    )


@pytest.fixture
async def consent(database_url: str, kafka_bootstrap: str) -> AsyncIterator[ConsentHarness]:
    settings = consent_settings(database_url, kafka_bootstrap)
    app = build_app(settings)
    async with LifespanManager(app, startup_timeout=60, shutdown_timeout=30) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://consent") as client:
            yield ConsentHarness(app, client, settings)


@pytest.fixture
async def policy(consent: ConsentHarness) -> dict:
    """Version 1 of the clinic's privacy notice, in effect, covering every purpose."""
    response = await consent.client.post("/v1/policies", json=policy_body(), headers=MANAGER)
    assert response.status_code == 201, response.text
    return response.json()
