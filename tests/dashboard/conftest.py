"""The request service (with its dashboard), the consent service and the notifier, all served
over real HTTP on the test's own database and broker; and a signed-in browser-like client."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from deploy.local_infra import free_port
from services.consent.app import build_app as build_consent
from services.dsr.app import build_app as build_dsr
from services.dsr.dashboard.accounts import create_account
from services.notifier.app import build_app as build_notifier
from tests.consent.conftest import consent_settings
from tests.dsr.conftest import Stack, dsr_settings
from tests.notifier.conftest import notifier_settings
from tests.support import MANAGER, Served, policy_body

MANAGER_PASSWORD = "manager-password-123"
STAFF_PASSWORD = "staff-password-1234"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class DashStack(Stack):
    notifier: httpx.AsyncClient | None = None

    def browser(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=str(self.dsr.base_url), timeout=30, follow_redirects=False)


@pytest.fixture
async def dash(database_url: str, kafka_bootstrap: str) -> AsyncIterator[DashStack]:
    async with Served(build_consent(consent_settings(database_url, kafka_bootstrap)), free_port()) as consent, \
            Served(build_notifier(notifier_settings(database_url, kafka_bootstrap)), free_port()) as notifier:
        settings = dsr_settings(database_url, kafka_bootstrap, consent.url, notifier_url=notifier.url,
                                signin_max_failures_per_user=3, signin_max_failures_per_device=3)
        dsr_app = build_dsr(settings)
        async with Served(dsr_app, free_port()) as dsr:
            async with httpx.AsyncClient(base_url=dsr.url, timeout=30) as dsr_client, \
                    httpx.AsyncClient(base_url=consent.url, timeout=30) as consent_client, \
                    httpx.AsyncClient(base_url=notifier.url, timeout=30) as notifier_client:
                response = await consent_client.post("/v1/policies", json=policy_body(), headers=MANAGER)
                assert response.status_code == 201, response.text
                async with dsr_app.state.runtime.pool.acquire() as conn:
                    await create_account(conn, username="kim", password=MANAGER_PASSWORD, role="privacy_manager",
                                         display_name="김지은")
                    await create_account(conn, username="lee", password=STAFF_PASSWORD, role="staff",
                                         display_name="이서준")
                yield DashStack(dsr_app, dsr_client, consent_client, database_url, kafka_bootstrap,
                                notifier=notifier_client)


def csrf_of(html: str) -> str:
    match = CSRF.search(html)
    assert match, "no CSRF field in the page"
    return match.group(1)


async def sign_in(client: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    form = await client.get("/dashboard/signin")
    assert form.status_code == 200, form.text
    return await client.post("/dashboard/signin", data={"csrf": csrf_of(form.text), "username": username,
                                                         "password": password, "next": "/dashboard/"})


@pytest.fixture
async def manager(dash: DashStack) -> AsyncIterator[httpx.AsyncClient]:
    async with dash.browser() as client:
        response = await sign_in(client, "kim", MANAGER_PASSWORD)
        assert response.status_code == 303, response.text
        yield client


@pytest.fixture
async def staff(dash: DashStack) -> AsyncIterator[httpx.AsyncClient]:
    async with dash.browser() as client:
        response = await sign_in(client, "lee", STAFF_PASSWORD)
        assert response.status_code == 303, response.text
        yield client


async def post_form(client: httpx.AsyncClient, page: str, action: str, data: dict) -> httpx.Response:
    """Open ``page``, take its CSRF token, post ``data`` to ``action`` like a browser."""
    opened = await client.get(page)
    assert opened.status_code == 200, opened.text
    return await client.post(action, data={"csrf": csrf_of(opened.text), **data})
