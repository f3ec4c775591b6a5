"""shared.db.ReadLane against a real PostgreSQL: every call answered, never more connections than
its size, and a failed, killed or cancelled call costs its connection and nothing else."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from shared.db import ReadLane, create_pool
from shared.problems import is_unavailable
from tests.support import eventually

LANE = "lane-test"


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database_url, "public", min_size=1, max_size=6)
    try:
        yield pool
    finally:
        await pool.close()


async def backends(pool: asyncpg.Pool) -> list[int]:
    """Process ids of the lane's server connections (they mark themselves with LANE)."""
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT pid FROM pg_stat_activity WHERE query LIKE $1 AND pid <> pg_backend_pid()",
                                f"%{LANE}%")
    return [r["pid"] for r in rows]


async def backend_of(lane: ReadLane) -> int:
    """The server process the lane's next read runs on."""
    return (await lane.fetchrow(f"SELECT pg_backend_pid() AS pid, '{LANE}'"))["pid"]


async def kill_backend_of(lane: ReadLane, pool: asyncpg.Pool) -> int:
    """End the lane's connection from the server side, as a restart would; returns its pid."""
    pid = await backend_of(lane)
    async with pool.acquire() as admin:
        await admin.execute("SELECT pg_terminate_backend($1)", pid)
    return pid


async def one_busy_one_waiting(lane: ReadLane) -> tuple[asyncio.Task, asyncio.Task]:
    """A lane of one connection, busy for 0.3 s, and a second caller waiting for it."""
    busy = asyncio.create_task(lane.fetchrow(f"SELECT pg_sleep(0.3), '{LANE}'"))
    await asyncio.sleep(0.05)
    waiting = asyncio.create_task(lane.fetchrow("SELECT 1"))
    await asyncio.sleep(0.05)
    return busy, waiting


def all_back(pool: asyncpg.Pool) -> bool:
    return pool.get_idle_size() == pool.get_size()


async def _now(value: bool) -> bool:
    return value


async def test_many_concurrent_reads_share_at_most_size_connections(pool):
    lane = ReadLane(pool, 2)
    answers = await asyncio.gather(*(lane.fetchrow(f"SELECT $1::int AS n, '{LANE}' AS lane", i) for i in range(50)))

    assert [a["n"] for a in answers] == list(range(50))
    assert len(set(await backends(pool))) <= 2
    assert pool.get_size() - pool.get_idle_size() == 2  # the lane holds its two, idle in the lane
    await lane.close()
    assert all_back(pool)


async def test_a_statement_error_keeps_the_connection(pool):
    lane = ReadLane(pool, 1)
    pid = await backend_of(lane)

    with pytest.raises(asyncpg.DivisionByZeroError):
        await lane.fetchrow(f"SELECT 1 / 0, '{LANE}'")
    assert await backend_of(lane) == pid
    await lane.close()


async def test_a_connection_killed_by_the_server_is_replaced(pool):
    lane = ReadLane(pool, 1)
    first = await kill_backend_of(lane, pool)

    try:  # a call that still finds it dead is told the database was away (503), nothing else
        await lane.fetchrow(f"SELECT '{LANE}'")
    except Exception as exc:
        assert is_unavailable(exc), repr(exc)
    assert await backend_of(lane) != first
    await lane.close()
    assert all_back(pool)


async def test_a_connection_killed_while_idle_in_the_lane_costs_no_call(pool):
    lane = ReadLane(pool, 1)
    first = await kill_backend_of(lane, pool)
    await asyncio.sleep(0.5)  # the client has seen the connection close

    assert await backend_of(lane) != first
    await lane.close()
    assert all_back(pool)


async def test_a_cancelled_call_costs_its_connection_only(pool):
    lane = ReadLane(pool, 1)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.2):
            await lane.fetchrow(f"SELECT pg_sleep(30), '{LANE}'")
    # The next call is not stuck behind the cancelled statement, and no connection leaked.
    assert (await asyncio.wait_for(lane.fetchrow("SELECT 7 AS n"), timeout=10))["n"] == 7
    await lane.close()
    assert all_back(pool)


async def test_a_caller_cancelled_while_waiting_for_a_connection_takes_none_with_it(pool):
    lane = ReadLane(pool, 1)
    busy, waiting = await one_busy_one_waiting(lane)
    waiting.cancel()
    await busy

    assert waiting.cancelled()
    assert (await asyncio.wait_for(lane.fetchrow("SELECT 2 AS n"), timeout=5))["n"] == 2
    await lane.close()
    assert all_back(pool)


async def test_a_closed_lane_gives_everything_back_and_refuses_calls(pool):
    lane = ReadLane(pool, 3)
    await asyncio.gather(*(lane.fetchrow(f"SELECT pg_sleep(0.05), '{LANE}'") for _ in range(3)))
    await lane.close()

    assert all_back(pool)
    with pytest.raises(asyncpg.InterfaceError, match="closed"):
        await lane.fetchrow("SELECT 1")


async def test_closing_tells_a_waiting_caller(pool):
    lane = ReadLane(pool, 1)
    busy, waiting = await one_busy_one_waiting(lane)
    await lane.close()

    with pytest.raises(asyncpg.InterfaceError, match="closed"):
        await waiting
    await busy  # the call in flight still ends normally, and its connection goes back to the pool
    await eventually(lambda: _now(all_back(pool)), timeout=5)


async def test_a_lane_needs_a_connection():
    with pytest.raises(ValueError):
        ReadLane(None, 0)  # type: ignore[arg-type]
