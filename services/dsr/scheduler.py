"""The deadline scheduler: notices at 50% and 80% of the time and when overdue, re-sending tasks
nobody answered, and destroying request records at the end of their retention.

Safe with several replicas: each pass takes a transaction-scoped advisory lock (a replica that
does not get it skips the pass), each notice is a row with a unique key written in the same
transaction as its event, and tasks and records are claimed with FOR UPDATE SKIP LOCKED.
"""

from __future__ import annotations

import logging

import asyncpg

from services.dsr import store
from services.dsr.service import RequestService
from shared.events import RequestDeadlineApproaching, RequestOverdue, RequestTaskUnanswered
from shared.loops import run_every

log = logging.getLogger(__name__)


class Scheduler:
    def __init__(self, pool: asyncpg.Pool, service: RequestService, *, interval: float) -> None:
        self.pool = pool
        self.service = service
        self.interval = interval

    async def run(self) -> None:
        await run_every(self.run_once, name="deadline scheduler", interval=self.interval)

    async def run_once(self) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            if not await conn.fetchval("SELECT pg_try_advisory_xact_lock(hashtext('dsr-scheduler'))"):
                return  # another replica is on it
            await self.deadline_notices(conn)
            await self.late_tasks(conn)
            await self.destroy_expired_records(conn)

    async def deadline_notices(self, conn: asyncpg.Connection) -> None:
        now = self.service.clock()
        for req in await store.open_requests_for_notices(conn, now):
            span = (req["due_at"] - req["received_at"]).total_seconds() or 1
            elapsed = (now - req["received_at"]).total_seconds() / span
            if now > req["due_at"]:
                if await store.add_notice(conn, req["request_id"], "overdue", now):
                    await self.service._publish(conn, RequestOverdue, req)
                continue
            for threshold in (80, 50):
                if elapsed >= threshold / 100:
                    if await store.add_notice(conn, req["request_id"], str(threshold), now):
                        await self.service._publish(conn, RequestDeadlineApproaching, req, threshold=threshold)
                    break  # a request found past 80% at once is told 80%, not 50% as well

    async def late_tasks(self, conn: asyncpg.Connection) -> None:
        now = self.service.clock()
        settings = self.service.settings
        for task in await store.waiting_tasks_due(conn, now):
            req = await store.request(conn, task["request_id"])
            if task["attempts"] < settings.task_max_attempts:
                due = now + settings.task_timeout
                await conn.execute("UPDATE tasks SET attempts = attempts + 1, answer_due = $2 WHERE task_id = $1",
                                   task["task_id"], due)
                await self.service._publish_task(conn, req, task_id=task["task_id"], system_id=task["system_id"],
                                                 kind=task["kind"], plan=task["plan"], attempt=task["attempts"] + 1,
                                                 due=due)
                log.info("re-sent task %s to %s (attempt %d)", task["task_id"], task["system_id"], task["attempts"] + 1)
            else:
                await conn.execute("UPDATE tasks SET status = 'unanswered' WHERE task_id = $1", task["task_id"])
                await self.service._publish(conn, RequestTaskUnanswered, req, task_id=str(task["task_id"]),
                                            system_id=task["system_id"], attempts=task["attempts"])
                log.warning("task %s: %s never answered", task["task_id"], task["system_id"])

    async def destroy_expired_records(self, conn: asyncpg.Connection) -> None:
        """Crypto-shred requests kept their 3 years; the row stays, without personal data, as evidence."""
        now = self.service.clock()
        for req in await store.requests_due_for_destruction(conn, now):
            await self.service.keys.destroy(conn, req["key_ref"])
            # The answers, and the corrections a rectify task carried (sealed, or in the clear in rows
            # written before tasks were sealed), go with the key.
            await conn.execute("UPDATE tasks SET result = NULL, plan = plan - 'sealed' - 'corrections' "
                               "WHERE request_id = $1", req["request_id"])
            await store.update_request(conn, req["request_id"], personal=None, token_hash="", destroyed_at=now,
                                       updated_at=now)
            await store.add_transition(conn, req["request_id"], at=now, actor="system", from_status=req["status"],
                                       to_status=req["status"],
                                       reason="personal data destroyed at the end of the retention period")
