"""A production DATABASE_URL carries libpq TLS options (``?sslmode=verify-full&sslrootcert=...``).

Migrations (Alembic over SQLAlchemy) and the service's pool (asyncpg) must both read them the same
way. The embedded PostgreSQL is built without TLS, which makes the options observable: ``prefer``
falls back to a plain connection and everything works; ``require`` is refused by this server, which
proves the option reached the driver instead of being dropped.
"""

from __future__ import annotations

import secrets

import asyncpg
import pytest

from deploy.local_infra import run_psql
from shared.db import create_pool
from shared.migrations import upgrade_async


@pytest.fixture
def empty_database(postgres_server) -> str:
    name = f"tls_{secrets.token_hex(4)}"
    run_psql(postgres_server.admin_dsn, f'CREATE DATABASE "{name}"')
    yield postgres_server.dsn_for(name)
    run_psql(postgres_server.admin_dsn, f'DROP DATABASE "{name}" WITH (FORCE)')


async def test_sslmode_in_database_url_reaches_migrations_and_pool(empty_database: str) -> None:
    dsn = f"{empty_database}?sslmode=prefer&application_name=tls-check"
    await upgrade_async(dsn, "consent")
    pool = await create_pool(dsn, "consent", min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT count(*) FROM alembic_version") == 1
            assert await conn.fetchval("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()") is False
    finally:
        await pool.close()


async def test_sslmode_require_is_enforced_by_migrations(empty_database: str) -> None:
    with pytest.raises(ConnectionError, match="SSL"):
        await upgrade_async(f"{empty_database}?sslmode=require", "consent")
    with pytest.raises(ConnectionError, match="SSL"):
        await asyncpg.connect(f"{empty_database}?sslmode=require")
