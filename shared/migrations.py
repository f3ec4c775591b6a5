"""Schema migrations with Alembic, one PostgreSQL schema and one version table per service.

Each service keeps its migrations in ``services/<name>/migrations`` (plain SQL through
``op.execute``); its ``env.py`` is one call to :func:`run_alembic_env`. Migrations run when a
service starts, under an advisory lock, so several replicas starting at once apply them once.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config

#: Services in the order their schemas are created; each name is its schema and its package.
SERVICES: tuple[str, ...] = ("consent", "dsr", "notifier")


def _script_location(service: str) -> Path:
    import services

    return Path(services.__file__).parent / service / "migrations"


def _sqlalchemy_url(dsn: str) -> str:
    for prefix in ("postgresql://", "postgres://"):
        if dsn.startswith(prefix):
            return "postgresql+asyncpg://" + dsn[len(prefix) :]
    return dsn


def alembic_config(dsn: str, service: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_script_location(service)))
    # Alembic's config is ConfigParser-based: a literal % must be doubled.
    config.set_main_option("sqlalchemy.url", _sqlalchemy_url(dsn).replace("%", "%%"))
    config.attributes["service"] = service
    # Connections are made by asyncpg from this very DSN (as the pool's are), so libpq-style
    # options such as ?sslmode=verify-full&sslrootcert=... work; SQLAlchemy's asyncpg dialect
    # would pass them to asyncpg.connect() as keyword arguments it does not take.
    config.attributes["dsn"] = dsn
    return config


def upgrade(dsn: str, service: str, revision: str = "head") -> None:
    """Bring ``service``'s schema up to ``revision``. Blocking: call it in a thread from async code."""
    if not _script_location(service).is_dir():
        return
    command.upgrade(alembic_config(dsn, service), revision)


def upgrade_all(dsn: str) -> None:
    """Migrate every service that has migrations (used by the tests' template database)."""
    for service in SERVICES:
        upgrade(dsn, service)


async def upgrade_async(dsn: str, service: str) -> None:
    await asyncio.to_thread(upgrade, dsn, service)


def execute_script(sql: str) -> None:
    """Run a multi-statement SQL script (DDL with functions) inside a migration.

    SQLAlchemy's asyncpg dialect prepares every statement, and a prepared statement holds only
    one command; asyncpg's own ``execute`` without arguments runs a whole script.
    """
    from alembic import op
    from sqlalchemy.util import await_only

    driver = op.get_bind().connection.driver_connection
    assert driver is not None, "migrations run on an open asyncpg connection"
    await_only(driver.execute(sql))


def run_alembic_env() -> None:
    """The body of every service's ``migrations/env.py`` (online mode only)."""
    from alembic import context
    from sqlalchemy import pool, text
    from sqlalchemy.ext.asyncio import async_engine_from_config

    config = context.config
    service: str = config.attributes["service"]

    def run(connection) -> None:
        # Replicas starting together queue here instead of racing through the same DDL; the lock
        # is held until the one transaction that carries every migration commits.
        connection.execute(text(f"SELECT pg_advisory_xact_lock(hashtext('dongui-migrate-{service}'))"))
        connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{service}"'))
        connection.execute(text(f'SET LOCAL search_path TO "{service}"'))
        context.configure(connection=connection, version_table_schema=service)
        with context.begin_transaction():
            context.run_migrations()

    async def main() -> None:
        import asyncpg

        dsn: str = config.attributes["dsn"]
        engine = async_engine_from_config(
            config.get_section(config.config_ini_section, {}),
            prefix="sqlalchemy.",
            poolclass=pool.NullPool,
            async_creator=lambda: asyncpg.connect(dsn),
        )
        async with engine.connect() as connection:
            await connection.run_sync(run)
            await connection.commit()
        await engine.dispose()

    asyncio.run(main())
