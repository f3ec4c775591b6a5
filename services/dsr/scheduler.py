"""The deadline scheduler: notices at 50% and 80% of the time and when overdue, an acknowledgement
(Vietnam's) not made by its date, re-sending tasks (and destroy tasks) nobody answered, destroying
request records at the end of their retention, a destruction not confirmed within its time, and
the breach register's reminders at 24, 48 and 72 hours.

Safe with several replicas: each pass takes a transaction-scoped advisory lock (a replica that
does not get it skips the pass), each notice is a row with a unique key written in the same
transaction as its event, and tasks and records are claimed with FOR UPDATE SKIP LOCKED.
"""

from __future__ import annotations

import asyncpg

from services.dsr import store
from services.dsr.service import RequestService
from shared.loops import run_every


class Scheduler:
    def __init__(self, pool: asyncpg.Pool, service: RequestService, *, interval: float) -> None:
        self.pool = pool
        self.service = service
        self.interval = interval
        #: Passes this replica made and committed (a pass another replica held is not counted).
        self.passes = 0

    async def run(self) -> None:
        await run_every(self.run_once, name="deadline scheduler", interval=self.interval)

    async def run_once(self) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            if not await store.take_scheduler_pass(conn):
                return  # another replica is on it
            await self.deadline_notices(conn)
            await self.acknowledgement_notices(conn)
            await self.late_tasks(conn)
            await self.destroy_expired_records(conn)
            await self.service.destructions.expire_clocks(conn)  # retention periods that ended
            await self.service.destructions.chase(conn)  # destroy tasks nobody answered
            await self.service.destructions.overdue_notices(conn)  # past their 5 days, told once
            await self.service.breach_notices(conn)  # the breach register's 72-hour clock
        self.passes += 1

    async def deadline_notices(self, conn: asyncpg.Connection) -> None:
        for req in await store.open_requests_for_notices(conn, self.service.clock()):
            await self.service.notify_deadline(conn, req)

    async def acknowledgement_notices(self, conn: asyncpg.Connection) -> None:
        for req in await store.requests_owing_acknowledgement(conn, self.service.clock()):
            await self.service.telling.notify_acknowledgement(conn, req)

    async def late_tasks(self, conn: asyncpg.Connection) -> None:
        for task in await store.waiting_tasks_due(conn, self.service.clock()):
            await self.service.chase(conn, task)

    async def destroy_expired_records(self, conn: asyncpg.Connection) -> None:
        """Crypto-shred requests kept their 3 years; the row stays, without personal data, as evidence."""
        for req in await store.requests_due_for_destruction(conn, self.service.clock()):
            await self.service.destroy_record(conn, req)
