"""Destructions: created from a withdrawal or the end of a retention period (the retention clock),
sent to every holding system as ``dsr.task.destroy``, chased, confirmed, and told overdue once.

A destruction is not a person's request: nobody filed it and nobody waits for its result, so it
has no request's key, workflow or deadline. It has its own record (``destructions``) and tasks
(``destruction_tasks``), answered like any task (``POST /v1/tasks/{id}/result`` or
``dsr.task-results``, with the same checks), and its time: ``DSR_DESTRUCTION_PERIOD`` (5 days,
per class ``DSR_DESTRUCTION_PERIODS``). Each step is written with its events in one transaction.
"""

from __future__ import annotations

import logging
import uuid
from datetime import date, datetime, timedelta
from typing import Any

import asyncpg

from services.dsr import domain, errors
from services.dsr import store as dsr_store
from services.dsr.context import SOURCE, Context
from services.dsr.destruction import planning, store
from services.dsr.results import open_result
from services.dsr.tasks import AnswerKey, legal_purposes
from shared import outbox
from shared.cloudevents import new_event
from shared.events import DataDestroyed, DestroyTask, DestructionEvent, DestructionOverdue, RetentionExpired, TaskResult
from shared.rules.retention import RETENTION_CLASSES

log = logging.getLogger(__name__)


class Destructions:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def period(self, retention_class: str) -> timedelta:
        """How long the systems have to destroy data of ``retention_class`` (the checklist: 5 days)."""
        settings = self.ctx.settings
        return settings.destruction_periods.get(retention_class, settings.destruction_period)

    # --- starting --------------------------------------------------------------------------------

    async def start(self, conn: asyncpg.Connection, plan: planning.Plan, *, subject_id: str, jurisdiction: str,
                    cause: str) -> dict[str, Any] | None:
        """Record the destruction and send a destroy task to each system holding what goes; None
        when ``cause`` was already acted on. With no holding system it is closed at once: the log
        still shows that the withdrawal was acted on and that no system held the data."""
        now = self.ctx.clock()
        holders = planning.holders(plan, [dict(s) for s in await dsr_store.systems(conn)])
        row: dict[str, Any] = {
            "destruction_id": uuid.uuid4(), "reference": domain.new_reference(now, prefix="DST"),
            "subject_id": subject_id, "jurisdiction": jurisdiction, "trigger": plan.trigger, "cause": cause,
            "purposes": list(plan.purposes), "categories": list(plan.categories), "classes": list(plan.classes),
            "kept": [k.as_json() for k in plan.kept], "rule": plan.rule, "created_at": now,
            "due_at": now + self.period(plan.period_class),
        }
        if not await store.insert_destruction(conn, row):
            return None
        for holder in holders:
            task_id = uuid.uuid4()
            answer_due = min(now + self.ctx.settings.task_timeout, row["due_at"])
            await store.insert_task(conn, {"task_id": task_id, "destruction_id": row["destruction_id"],
                                           "system_id": holder.system_id, "retain_classes": list(holder.retain_classes),
                                           "sent_at": now, "answer_due": answer_due})
            await self._send(conn, row, task_id=task_id, system_id=holder.system_id,
                             retain_classes=list(holder.retain_classes), attempt=1, answer_due=answer_due)
        await self._publish(conn, RetentionExpired, row, systems=[h.system_id for h in holders])
        if not holders:
            await store.close(conn, row["destruction_id"], now)
        log.info("destruction %s of %s (%s): %d system(s) told", row["reference"], ",".join(plan.purposes) or "-",
                 plan.trigger, len(holders))
        return row

    async def _send(self, conn: asyncpg.Connection, row: Any, *, task_id: uuid.UUID, system_id: str,
                    retain_classes: list[str], attempt: int, answer_due: datetime) -> None:
        task = DestroyTask(
            task_id=str(task_id), request_id=str(row["destruction_id"]), reference=row["reference"],
            system_id=system_id, subject_id=row["subject_id"], jurisdiction=row["jurisdiction"], attempt=attempt,
            due_at=answer_due, trigger=row["trigger"], purposes=list(row["purposes"]),
            categories=list(row["categories"]), classes=list(row["classes"]), retain_classes=retain_classes,
            kept=list(row["kept"]), rule=row["rule"], restrict_to_legal_purpose=legal_purposes(retain_classes),
        )
        event = new_event(source=SOURCE, type=task.event_type, subject=task.kafka_key(),
                          data=task.model_dump(mode="json", exclude_none=True))
        await outbox.enqueue_event(conn, event, topic=task.topic, key=task.kafka_key())

    async def _publish(self, conn: asyncpg.Connection, model: type[DestructionEvent], row: Any, **extra: Any) -> None:
        await outbox.enqueue(conn, model(
            destruction_id=str(row["destruction_id"]), reference=row["reference"], subject_id=row["subject_id"],
            trigger=row["trigger"], purposes=list(row["purposes"]), categories=list(row["categories"]),
            classes=list(row["classes"]), due_at=row["due_at"], at=self.ctx.clock(), **extra,
        ), source=SOURCE)

    # --- answers ---------------------------------------------------------------------------------

    async def owns(self, conn: asyncpg.Connection, task_id: str) -> bool:
        """Whether ``task_id`` is a destroy task (not a request's)."""
        try:
            return await store.is_task(conn, uuid.UUID(task_id))
        except ValueError:
            return False

    async def _check(self, conn: asyncpg.Connection, result: TaskResult, *, lock: bool = False) -> Any | None:
        """The task an answer is for, after checking it names it rightly; None when it was already
        answered (a duplicate). Writes nothing."""
        task = await store.task(conn, uuid.UUID(result.task_id), lock=lock)
        if task is None:
            raise errors.UnknownTask(f"There is no task '{result.task_id}'.")
        if task["system_id"] != result.system_id:
            raise errors.NotTheTasksSystem(
                f"Task {result.task_id} was sent to system '{task['system_id']}', not '{result.system_id}'.")
        if str(task["destruction_id"]) != result.request_id:
            raise errors.NotTheTasksRequest("request_id does not match the task (a destroy task's is its destruction's id).")
        destruction = await store.destruction(conn, task["destruction_id"], lock=lock)
        assert destruction is not None, "a destroy task belongs to a destruction"
        if result.subject_id != destruction["subject_id"]:
            raise errors.NotTheTasksSubject("subject_id does not match the task.")
        return None if task["status"] == "answered" else (task, destruction)

    async def opened(self, conn: asyncpg.Connection, result: TaskResult, key: AnswerKey) -> TaskResult:
        """The answer with its sealed part opened (see :meth:`services.dsr.tasks.Tasks.opened`)."""
        if result.sealed is None:
            return result
        if await self._check(conn, result) is None:
            return result.model_copy(update={"sealed": None})
        return open_result(result, await key(result.subject_id))

    async def record_result(self, conn: asyncpg.Connection, result: TaskResult) -> bool:
        """Keep the system's confirmation as evidence (its outcome, what it destroyed, what it kept
        and why: codes, classes and dates, never the data) and publish ``data.destroyed``; the
        destruction closes when every system confirmed it. False for a duplicate answer."""
        if result.sealed is not None:
            raise ValueError("open the sealed part of a result (opened) before recording it")
        checked = await self._check(conn, result, lock=True)
        if checked is None:
            return False
        task, destruction = checked
        now = self.ctx.clock()
        await store.answer_task(conn, task["task_id"], outcome=result.outcome, erased=list(result.erased),
                                retained=[r.model_dump(mode="json") for r in result.retained], note=result.note, at=now)
        await self._publish(conn, DataDestroyed, destruction, system_id=task["system_id"], outcome=result.outcome,
                            erased=list(result.erased))
        await self._close_if_settled(conn, destruction["destruction_id"], now)
        return True

    async def close_by_hand(self, conn: asyncpg.Connection, task_id: uuid.UUID, *, reason: str, by: str) -> None:
        """The privacy manager settles a destroy task no answer will come for (its system was
        retired, or destroyed the data by other means): kept in the log with who and why."""
        task = await store.task(conn, task_id, lock=True)
        if task is None:
            raise errors.UnknownTask(f"There is no task '{task_id}'.")
        if task["status"] == "answered":
            raise errors.TaskAlreadyAnswered(f"Task {task_id} was already answered or closed.")
        now = self.ctx.clock()
        note = f"Closed by hand by {by} on {now:%Y-%m-%d %H:%M} UTC, without an answer from {task['system_id']}: {reason}"
        await store.answer_task(conn, task_id, outcome="failed", erased=[], retained=[], note=note[:2000], at=now,
                                closed_by=by)
        await self._close_if_settled(conn, task["destruction_id"], now)

    async def _close_if_settled(self, conn: asyncpg.Connection, destruction_id: uuid.UUID, now: datetime) -> None:
        """Closed once every system confirmed it, or the privacy manager settled its task by hand."""
        tasks = await store.tasks(conn, destruction_id)
        if all(t["status"] == "answered" and (t["outcome"] != "failed" or t["closed_by"]) for t in tasks):
            await store.close(conn, destruction_id, now)

    # --- the retention clock ---------------------------------------------------------------------

    async def report(self, conn: asyncpg.Connection, *, system_id: str, subject_id: str,
                     records: list[tuple[str, date]]) -> list[dict[str, Any]]:
        """A system says it holds records of the subject of these classes, the latest from that day
        (a visit, an access). Each class's clock counts from the latest day any system reported, so
        when it ends every record of the class is past its period. Returns the subject's clocks."""
        now = self.ctx.clock()
        today = now.astimezone(self.ctx.zone).date()
        future = sorted({c for c, d in records if d > today})
        if future:
            raise errors.RecordedInFuture(f"A record of {', '.join(future)} is dated after today ({today}) in the "
                                          f"clinic's calendar: report the day it was made.")
        for retention_class, starts_on in records:
            current = await store.clock(conn, subject_id, retention_class)
            if current is not None and current["starts_on"] >= starts_on:
                continue  # an older record: the clock already counts from a later day
            ends_on = RETENTION_CLASSES[retention_class].ends_on(starts_on)
            assert ends_on is not None, "a reported class has a legal period"
            await store.set_clock(conn, subject_id=subject_id, retention_class=retention_class, starts_on=starts_on,
                                  ends_on=ends_on, reported_by=system_id, at=now)
        return [clock_out(r) for r in await store.clocks(conn, subject_id)]

    async def expire_clocks(self, conn: asyncpg.Connection) -> None:
        """Each clock whose period ended (in the clinic's calendar): its class is destroyed."""
        now = self.ctx.clock()
        today = now.astimezone(self.ctx.zone).date()
        for ended in await store.ended_clocks(conn, today):
            cause = f"retention:{ended['subject_id']}:{ended['retention_class']}:{ended['starts_on'].isoformat()}"
            await self.start(conn, planning.after_expiry(ended["retention_class"]), subject_id=ended["subject_id"],
                             jurisdiction=self.ctx.settings.clinic_jurisdiction, cause=cause)
            await store.mark_expired(conn, ended["subject_id"], ended["retention_class"], now)

    # --- the scheduler ---------------------------------------------------------------------------

    async def chase(self, conn: asyncpg.Connection) -> None:
        """Send again each destroy task whose answer is late (up to DSR_TASK_MAX_ATTEMPTS sends)."""
        now = self.ctx.clock()
        settings = self.ctx.settings
        for task in await store.late_tasks(conn, now, settings.task_max_attempts):
            answer_due = now + settings.task_timeout
            await store.resend_task(conn, task["task_id"], answer_due)
            await self._send(conn, task, task_id=task["task_id"], system_id=task["system_id"],
                             retain_classes=list(task["retain_classes"]), attempt=task["attempts"] + 1,
                             answer_due=answer_due)

    async def overdue_notices(self, conn: asyncpg.Connection) -> None:
        """Each destruction past its time that a system has not confirmed: told once."""
        now = self.ctx.clock()
        for destruction in await store.overdue(conn, now):
            outstanding = [t["system_id"] for t in await store.tasks(conn, destruction["destruction_id"])
                           if t["status"] != "answered" or (t["outcome"] == "failed" and not t["closed_by"])]
            await store.mark_overdue(conn, destruction["destruction_id"], now)
            await self._publish(conn, DestructionOverdue, destruction, outstanding=outstanding)
            log.warning("destruction %s overdue: %s", destruction["reference"], ", ".join(outstanding))


def clock_out(row: Any) -> dict[str, Any]:
    """A clock as the API shows it."""
    return {"retention_class": row["retention_class"], "starts_on": row["starts_on"], "ends_on": row["ends_on"],
            "citation": RETENTION_CLASSES[row["retention_class"]].citation, "reported_by": row["reported_by"],
            "expired_at": row["expired_at"]}
