"""The daily digest of consent withdrawals: a cheap check every minute, a digest once a day.

Safe with replicas and restarts: the digest of a day is a row in ``digests`` (primary key: the
day) inserted in the same transaction that counts and removes the withdrawals and writes the
notifications, so it is made once, and a replica that loses the race makes nothing.
"""

from __future__ import annotations

import logging

import asyncpg

from services.notifier.service import NotifierService
from shared.loops import run_every

log = logging.getLogger(__name__)


class DigestScheduler:
    def __init__(self, pool: asyncpg.Pool, service: NotifierService, *, interval: float) -> None:
        self.pool = pool
        self.service = service
        self.interval = interval

    async def run(self) -> None:
        await run_every(self.run_once, name="withdrawal digest", interval=self.interval)

    async def run_once(self) -> None:
        async with self.pool.acquire() as conn:
            await self.service.digest_if_due(conn)
