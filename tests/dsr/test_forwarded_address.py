"""Whose X-Forwarded-For is believed is one explicit setting, DONGUI_FORWARDED_ALLOW_IPS (empty:
nobody's), and both per-address limits (the public intake, staff sign-in) count the address it
gives. Served by uvicorn for real, with the options ``shared.runtime.serve`` gives it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from pydantic import ValidationError

from deploy.local_infra import free_port
from services.dsr.app import build_app
from services.dsr.settings import DsrSettings
from shared.runtime import server_options
from tests.dashboard.conftest import sign_in
from tests.dsr.conftest import dsr_settings
from tests.dsr.factories import request_body
from tests.support import Served


@asynccontextmanager
async def served(database_url: str, kafka_bootstrap: str, proxies: str) -> AsyncIterator[tuple[httpx.AsyncClient, object]]:
    """The request service as ``python -m services.dsr`` runs it: uvicorn with ``server_options``."""
    settings = dsr_settings(database_url, kafka_bootstrap, "http://127.0.0.1:9", port=free_port(), run_workers=False,
                            intake_per_minute=1, forwarded_allow_ips=proxies)
    app = build_app(settings)
    options = {name: value for name, value in server_options(settings).items() if name != "port"}
    async with Served(app, settings.port, **options) as server, \
            httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        yield client, app


def forwarded(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


async def failure_addresses(app) -> set[str]:
    async with app.state.runtime.pool.acquire() as conn:
        keys = await conn.fetch("SELECT key FROM staff_signin_failures WHERE key LIKE 'addr:%'")
    return {k["key"].removeprefix("addr:") for k in keys}


async def test_without_the_setting_a_forwarded_address_changes_nothing(database_url, kafka_bootstrap):
    async with served(database_url, kafka_bootstrap, "") as (client, app):
        first = await client.post("/v1/requests", json=request_body(), headers=forwarded("203.0.113.1"))
        other = await client.post("/v1/requests", json=request_body(), headers=forwarded("203.0.113.2"))
        assert (first.status_code, other.status_code) == (201, 429)  # both are 127.0.0.1, the socket peer
        client.headers.update(forwarded("203.0.113.9"))
        assert (await sign_in(client, "nobody", "not-the-password")).status_code == 401
        assert await failure_addresses(app) == {"127.0.0.1"}


async def test_from_a_trusted_proxy_the_forwarded_address_is_the_one_counted(database_url, kafka_bootstrap):
    async with served(database_url, kafka_bootstrap, "127.0.0.1") as (client, app):
        first = await client.post("/v1/requests", json=request_body(), headers=forwarded("203.0.113.1"))
        other = await client.post("/v1/requests", json=request_body(), headers=forwarded("203.0.113.2"))
        again = await client.post("/v1/requests", json=request_body(), headers=forwarded("203.0.113.1"))
        assert (first.status_code, other.status_code, again.status_code) == (201, 201, 429)
        # A chain: the nearest address the proxies do not vouch for is the client's.
        chained = await client.post("/v1/requests", json=request_body(),
                                    headers=forwarded("198.51.100.4, 203.0.113.3, 127.0.0.1"))
        assert chained.status_code == 201
        client.headers.update(forwarded("203.0.113.9"))
        assert (await sign_in(client, "nobody", "not-the-password")).status_code == 401
        assert await failure_addresses(app) == {"203.0.113.9"}


def test_the_setting_takes_addresses_and_networks_and_refuses_anything_else(monkeypatch):
    assert DsrSettings(forwarded_allow_ips=" 10.0.0.0/8, 172.28.0.1 ,::1").trusted_proxies == [
        "10.0.0.0/8", "172.28.0.1", "::1"]
    assert DsrSettings().trusted_proxies == []
    for wrong in ("10.0.0.1/8", "proxy.example", "*,10.0.0.1"):
        with pytest.raises(ValidationError, match="DONGUI_FORWARDED_ALLOW_IPS"):
            DsrSettings(forwarded_allow_ips=wrong)
    monkeypatch.setenv("DONGUI_FORWARDED_ALLOW_IPS", "192.0.2.0/24")
    assert DsrSettings().trusted_proxies == ["192.0.2.0/24"]
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "10.0.0.1")  # uvicorn's own, no longer read: said so
    with pytest.raises(ValidationError, match="DONGUI_FORWARDED_ALLOW_IPS"):
        DsrSettings()


def test_uvicorn_believes_no_forwarded_header_itself():
    options = server_options(DsrSettings())
    assert options["proxy_headers"] is False
