"""PostgreSQL access: one asyncpg pool per service, confined to the service's own schema."""

from __future__ import annotations

import asyncio
import json
from collections import deque
from typing import Any

import asyncpg

from shared import jsonbytes
from shared.problems import is_unavailable


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

    Every statement is planned for its own parameters (``plan_cache_mode = force_custom_plan``).
    asyncpg prepares each statement once per connection, and after five executions PostgreSQL
    may switch it to a generic plan, which it keeps until the table is next analysed. A generic
    plan made while a table was small is a sequential scan, and a table that grows fast between two
    autovacuum analyses (a new deployment loading its first consents, a benchmark) is then read
    whole by every lookup: measured here, a connection's `POST /v1/consent-events` went from 550
    to 3,500 µs of PostgreSQL CPU per call within a minute while another process's connections on
    the same database stayed at 550. The price is the planning, on every execution: 65–88 µs of
    PostgreSQL's time per permission check (12–16 µs executing it), about 235 µs per
    `POST /v1/consent-events` call, measured with `pg_stat_statements` (docs/benchmarks.md).
    """
    return await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        reset=_end_transaction_only,
        server_settings={"search_path": schema, "application_name": f"dongui-{schema}",
                         "plan_cache_mode": "force_custom_plan"},
        command_timeout=30,
    )


def _usable(conn: Any) -> bool:
    """False for a pooled connection that closed (the server ended it) and went back to its pool."""
    try:
        return not conn.is_closed()
    except asyncpg.InterfaceError:  # "released back to the pool"
        return False


class ReadLane:
    """A few of the pool's connections kept out of it for one-statement reads outside any
    transaction, handed from caller to caller without the pool's per-use machinery.

    For the hottest read (consent's permission check, made before every use of a person's data).
    Each ``pool.acquire()`` and release costs a proxy, a queue hand-off, an inactivity timer and,
    on release, a task for ``asyncio.shield``. Measured: a check through the lane cost about a
    fifth less CPU one at a time in process, and about 5 % less under load over HTTP, where the
    event loop's turns are shared by the calls in flight (docs/benchmarks.md).

    The connections are the pool's own, acquired when first needed, up to ``size``, so they have
    its settings, search path and codecs (``Runtime`` sizes the pool ``size`` larger, so that the
    lane never leaves the rest of the service short). One that fails (the
    server went away, the call was cancelled mid-query) is given back to the pool, which closes
    or resets it, and the next caller acquires a fresh one: a database restart costs the calls in
    flight then, as with the pool, and nothing after. A server-side error of the statement itself
    (its connection still open and idle) leaves the connection in the lane.
    """

    def __init__(self, pool: asyncpg.Pool, size: int) -> None:
        if size < 1:
            raise ValueError("a read lane needs at least one connection")
        self._pool = pool
        self._size = size
        self._held = 0  # connections taken from the pool, free or in use
        self._free: list[Any] = []
        self._waiters: deque[asyncio.Future] = deque()
        self._closed = False
        self._returning: set[asyncio.Task] = set()

    async def fetchrow(self, query: str, *args: Any) -> asyncpg.Record | None:
        conn = await self._take()
        try:
            row = await conn.fetchrow(query, *args)
        except asyncpg.PostgresError as exc:
            if not _usable(conn) or is_unavailable(exc):
                await self._drop(conn)
            else:
                self._give(conn)
            raise
        except BaseException:
            await self._drop(conn)
            raise
        self._give(conn)
        return row

    async def close(self) -> None:
        """Give every free connection back to the pool; one in use goes back when its call ends,
        and a caller still waiting for one is told the lane is closed."""
        self._closed = True
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(asyncpg.InterfaceError("the read lane is closed"))
        while self._free:
            await self._drop(self._free.pop())

    async def _take(self) -> Any:
        if self._closed:
            raise asyncpg.InterfaceError("the read lane is closed")
        while self._free:
            conn = self._free.pop()
            if _usable(conn):
                return conn
            self._held -= 1  # closed while it waited here: the pool took its slot back
        if self._held < self._size:
            return await self._acquire()
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            conn = await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():  # handed one just as we were cancelled
                self._hand_on(waiter.result())
            else:
                self._waiters.remove(waiter)
            raise
        return conn if conn is not None else await self._acquire()

    async def _acquire(self) -> Any:
        self._held += 1
        try:
            return await self._pool.acquire()
        except BaseException:
            self._held -= 1
            self._hand_on(None)  # a waiter may try in our place
            raise

    def _give(self, conn: Any) -> None:
        if self._closed:
            task = asyncio.get_running_loop().create_task(self._drop(conn))
            self._returning.add(task)
            task.add_done_callback(self._returning.discard)
        else:
            self._hand_on(conn)

    def _hand_on(self, conn: Any) -> None:
        """``conn`` to the first caller still waiting, or back to the free list. None: a slot was
        freed, and a waiter acquires a connection for it."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return
        if conn is not None:
            self._free.append(conn)

    async def _drop(self, conn: Any) -> None:
        self._held -= 1
        try:
            await self._pool.release(conn)
        except Exception:  # the pool has closed or terminated it: nothing more to give back
            pass
        if not self._closed:
            self._hand_on(None)
