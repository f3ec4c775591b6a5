"""Group commit for ``POST /v1/consent-events``: the calls that arrive while a transaction is open
are recorded together in the next one.

Recording one event takes about a dozen statements and a durable commit (an fsync). Clinic systems
send many at once, so each call's event is queued here, and a worker records whatever is queued in
one transaction with :meth:`Recording.record_many`: the same rules, rows and outgoing events
as one at a time, a few statements and one commit for all of them. A call waits for the commit of
its own event, so a 201 still means "recorded durably". Nothing waits on purpose: a call that
arrives when no transaction is open is recorded at once, alone; batches form only under load.

A refusal (an unknown purpose, a conflict) is one event's outcome and never touches the others.
If a transaction fails for another reason, each of its events is recorded again alone, so one
event cannot take its neighbours down with it; if the database is away, every waiting call gets
that error (a 503).
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from services.consent.ledger import Ledger
from services.consent.recording import Recorded, Recording
from services.consent.schemas import ConsentRecordOut
from shared.cloudevents import CloudEvent
from shared.problems import Problem, is_unavailable

log = logging.getLogger(__name__)

Outcome = tuple[ConsentRecordOut, bool]


class GroupCommit:
    """Records HTTP consent events in shared transactions; ``record`` is what an endpoint awaits."""

    def __init__(self, recording: Recording, ledger: Ledger, pool: asyncpg.Pool, *, max_batch: int = 200,
                 workers: int = 4) -> None:
        self.recording = recording
        self.ledger = ledger
        self.pool = pool
        self.max_batch = max_batch
        #: Transactions open at once (``CONSENT_HTTP_COMMIT_WORKERS``); what arrives while all are
        #: busy waits for the next one, together.
        self.workers = workers
        self._pending: list[tuple[CloudEvent, asyncio.Future[Outcome]]] = []
        self._running = 0
        self._tasks: set[asyncio.Task] = set()

    async def record(self, envelope: CloudEvent) -> Outcome:
        """Record one event; returns its record as the API shows it and whether it is new."""
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        # A caller that went away never reads its outcome: read it here, so it is not reported.
        future.add_done_callback(lambda f: f.cancelled() or f.exception())
        self._pending.append((envelope, future))
        self._start_worker()
        # shield: a caller that goes away does not cancel the others' transaction.
        return await asyncio.shield(future)

    def _start_worker(self) -> None:
        if self._pending and self._running < self.workers:
            self._running += 1
            task = asyncio.create_task(self._work(), name="consent-group-commit")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _work(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
                await self._commit(batch)
        finally:
            self._running -= 1
            self._start_worker()  # anything queued after the loop looked last

    async def _commit(self, batch: list[tuple[CloudEvent, asyncio.Future[Outcome]]]) -> None:
        try:
            async with self.pool.acquire() as conn:
                async with conn.transaction():
                    outcomes = await self.recording.record_many(conn, [e for e, _ in batch], via="http")
                # After the commit: only a committed record is shown.
                results = [await self._render(conn, o) if isinstance(o, Recorded) else o for o in outcomes]
        except Exception as exc:  # handed to the callers, one way or the other
            if len(batch) > 1 and not is_unavailable(exc):
                log.warning("a group of %d consent events failed (%r); recording each alone", len(batch), exc)
                for item in batch:
                    await self._commit([item])
                return
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), result in zip(batch, results, strict=True):
            if future.done():
                continue
            if isinstance(result, Problem):
                future.set_exception(result)
            else:
                future.set_result(result)

    async def _render(self, conn: asyncpg.Connection, outcome: Recorded) -> Outcome:
        row = outcome.row
        [record] = await self.ledger.render_records(conn, row["subject_id"], [row], cipher=outcome.cipher)
        return record, outcome.created
