"""PostgreSQL access: one asyncpg pool per service, confined to the service's own schema."""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from shared import jsonbytes


def _encode_json(value: Any) -> str:
    return jsonbytes.compact(value).decode()


async def _init_connection(conn: asyncpg.Connection) -> None:
    # Read with the standard library: it keeps integers of any size exactly (orjson would make a
    # float of one past 64 bits).
    for pg_type in ("json", "jsonb"):
        await conn.set_type_codec(
            pg_type, encoder=_encode_json, decoder=json.loads, schema="pg_catalog"
        )


async def _end_transaction_only(conn: asyncpg.Connection) -> None:
    """What a connection needs on its way back to the pool: nothing beyond what asyncpg always does
    (an open transaction rolled back, listeners removed).

    asyncpg's default reset also runs ``SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *;
    RESET ALL``: one more round trip on every request, for session state this code never leaves
    on a pooled connection. It takes only transaction-level advisory locks
    (``pg_advisory_xact_lock``), ``SET LOCAL`` at most, no cursors outside a transaction, and
    LISTENs on a connection of its own outside the pool (``shared/loops.py``).
    """


async def create_pool(
    dsn: str, schema: str, *, min_size: int = 2, max_size: int = 10
) -> asyncpg.Pool:
    """A pool whose connections see only ``schema`` (plus pg_catalog) on their search path.

    Made in the app's lifespan, never at import time. Every service owns one schema and writes
    unqualified SQL against it, so no query can wander into another service's tables by accident.
    """
    return await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        reset=_end_transaction_only,
        server_settings={"search_path": schema, "application_name": f"dongui-{schema}"},
        command_timeout=30,
    )
