"""With PostgreSQL away, calls are told 503 with Retry-After (not 500), and work again after."""

from __future__ import annotations

import asyncpg

from tests.consent.conftest import ConsentHarness
from tests.support import STAFF, SYSTEM, consent_event


async def test_a_database_outage_is_a_503_with_retry_after_then_service_resumes(
    consent: ConsentHarness, policy, database_url, postgres_server
):
    dbname = database_url.rsplit("/", 1)[1]
    event = consent_event(subject_id="outage-1", purpose="marketing_email")
    admin = await asyncpg.connect(postgres_server.admin_dsn)
    try:
        # The database goes away: no new connections, and every open one is cut.
        await admin.execute(f'ALTER DATABASE "{dbname}" ALLOW_CONNECTIONS false')
        await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", dbname)
        for call in (
            lambda: consent.client.get("/v1/subjects/outage-1/permissions/marketing_email", headers=STAFF),
            lambda: consent.client.post("/v1/consent-events", json=event, headers=SYSTEM),
        ):
            response = await call()
            assert response.status_code == 503, response.text
            assert response.headers["content-type"].startswith("application/problem+json")
            assert response.headers["retry-after"] == "5"
            assert response.json()["status"] == 503
    finally:
        await admin.execute(f'ALTER DATABASE "{dbname}" ALLOW_CONNECTIONS true')
        await admin.close()
    # Nothing was half-written: the same event is recorded once when sent again.
    response = await consent.client.post("/v1/consent-events", json=event, headers=SYSTEM)
    assert response.status_code == 201, response.text
    response = await consent.client.get("/v1/subjects/outage-1/permissions/marketing_email", headers=STAFF)
    assert response.status_code == 200, response.text
