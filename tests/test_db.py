"""shared.db's pool against a real PostgreSQL."""

from __future__ import annotations

from shared.db import create_pool


async def test_a_lookup_planned_while_its_table_was_small_does_not_scan_it_once_it_is_large(database_url):
    """A statement prepared and run while its table was tiny must not keep the sequential scan
    of that moment (a generic plan) once the table has grown, before any analyse."""
    pool = await create_pool(database_url, "public", min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            await conn.execute("CREATE TABLE lookups (id text PRIMARY KEY) WITH (autovacuum_enabled = false)")
            await conn.execute("INSERT INTO lookups SELECT 'small-' || i FROM generate_series(1, 20) AS i")
            await conn.execute("ANALYZE lookups")
            query = "SELECT id FROM lookups WHERE id = ANY($1::text[])"
            for _ in range(10):  # past the five runs after which PostgreSQL may keep a generic plan
                assert len(await conn.fetch(query, ["small-1", "small-2"])) == 2
            await conn.execute("INSERT INTO lookups SELECT 'large-' || i FROM generate_series(1, 50000) AS i")

            # This backend's sequential scans of the table not yet reported, before and after.
            scans = "SELECT seq_scan FROM pg_stat_xact_user_tables WHERE relname = 'lookups'"
            async with conn.transaction():
                before = await conn.fetchval(scans)
                assert len(await conn.fetch(query, ["large-1", "small-1"])) == 2
                after = await conn.fetchval(scans)
            assert after == before
            assert await conn.fetchval("SHOW plan_cache_mode") == "force_custom_plan"
    finally:
        await pool.close()
