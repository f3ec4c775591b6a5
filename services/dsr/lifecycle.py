"""The steps every part of the workflow is made of: a checked, audited move from one state to the
next; a lifecycle event in the outbox; holds released; completion once every system answered;
deadline notices; destruction at the end of the retention period.

Every state change goes through :meth:`Lifecycle.move`; every event leaves through the outbox in
the transaction of the change it reports.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from services.dsr import model, store
from services.dsr.context import SOURCE, Context
from services.dsr.model import Request
from shared import outbox
from shared.events import (
    RequestCompleted,
    RequestDeadlineApproaching,
    RequestEvent,
    RequestOverdue,
    SubjectHoldReleased,
)
from shared.i18n import Said


class Lifecycle:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def move(self, conn: asyncpg.Connection, req: Request, to: str, *, actor: str,
                   reason: str | Said | None, **changes: Any) -> Request:
        """Move the request to ``to`` (refused, 409, unless the workflow allows it), with its audit row."""
        req.check_move(to)
        now = self.ctx.clock()
        changes = {**req.closing(to, now, self.destroy_after(now)), **changes}
        moved = await store.update_request(conn, req.request_id, status=to, updated_at=now, **changes)
        await store.add_transition(conn, req.request_id, at=now, actor=actor, from_status=req.status,
                                   to_status=to, reason=reason)
        return moved

    def destroy_after(self, closed_at: datetime) -> datetime:
        """When the record of a request closed at ``closed_at`` is destroyed."""
        return self.ctx.record_end(closed_at)

    async def publish(self, conn: asyncpg.Connection, event: type[RequestEvent], req: Request, **extra: Any) -> None:
        """A lifecycle event about the request (no personal data: its reference and facts)."""
        await outbox.enqueue(
            conn,
            event(
                request_id=str(req.request_id), reference=req.reference, type=req.type,
                jurisdiction=req.jurisdiction, language=req.language, status=req.status,
                subject_id=req.subject_id, by_guardian=req.by_guardian,
                child_own_request=req.child_own_request, due_at=req.due_at, occurred_at=self.ctx.clock(),
                **extra,
            ),
            source=SOURCE,
        )

    async def release_holds(self, conn: asyncpg.Connection, req: Request) -> None:
        """Release the request's active holds and tell the consent service (subject.hold.released)."""
        now = self.ctx.clock()
        for hold_id, subject_id in await store.release_holds(conn, req.request_id, now):
            await outbox.enqueue(conn, SubjectHoldReleased(subject_id=subject_id, hold_id=str(hold_id),
                                                           request_id=str(req.request_id), released_at=now),
                                 source=SOURCE)

    async def finish(self, conn: asyncpg.Connection, req: Request, *, lifting: bool = False) -> Request:
        """Complete the request when every task has answered (and, for a restriction, after the
        lift; ``lifting``: it is lifted now, with no system in service left to tell)."""
        tasks = await store.tasks(conn, req.request_id)
        if not model.all_answered(req, tasks, lifting=lifting):
            return req
        cipher = await self.ctx.cipher(conn, req)
        answers = {t.task_id: cipher.open(t.result, context=t.context) or {} for t in tasks}
        outcome = model.outcome(tasks, answers)
        if req.type == "rectification":
            await self.release_holds(conn, req)
        req = await self.move(conn, req, outcome, actor="system", reason=Said("audit.all_answered"))
        await self.publish(conn, RequestCompleted, req, outcome=outcome)
        return req

    async def notify_deadline(self, conn: asyncpg.Connection, req: Request) -> None:
        """Tell the privacy manager the request is overdue, or has used 50% or 80% of its time;
        each notice once (its row is written with its event, whatever the replicas)."""
        now = self.ctx.clock()
        notice = req.notice_due(now)
        if notice is None or not await store.add_notice(conn, req.request_id, notice, now):
            return
        if notice == "overdue":
            await self.publish(conn, RequestOverdue, req)
        else:
            await self.publish(conn, RequestDeadlineApproaching, req, threshold=int(notice))

    async def destroy_record(self, conn: asyncpg.Connection, req: Request) -> None:
        """Crypto-shred a request kept its 3 years; the row stays, without personal data, as evidence."""
        now = self.ctx.clock()
        await self.ctx.keys.destroy(conn, req.key_ref)
        # The answers, and the corrections a rectify task carried, go with the key.
        await store.destroy_task_secrets(conn, req.request_id)
        await store.update_request(conn, req.request_id, personal=None, token_hash="", destroyed_at=now,
                                   updated_at=now)
        await store.add_transition(conn, req.request_id, at=now, actor="system", from_status=req.status,
                                   to_status=req.status,
                                   reason=Said("audit.destroyed"))
