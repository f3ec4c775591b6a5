"""The clinic systems and their work: registering a system, sending tasks (and re-sending the
late ones), and recording each system's answer once."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

import asyncpg

from services.dsr import domain, errors, store
from services.dsr.context import SOURCE, Context
from services.dsr.lifecycle import Lifecycle
from services.dsr.model import Request, Task, TransitKey
from services.dsr.results import open_result
from shared import outbox, sealing
from shared.cloudevents import new_event
from shared.events import (
    EraseTask,
    ExportTask,
    LiftTask,
    RectifyTask,
    RequestTaskUnanswered,
    RestrictTask,
    TaskData,
    TaskResult,
)
from shared.i18n import Said
from shared.rules.retention import RETENTION_CLASSES

log = logging.getLogger(__name__)

TASK_MODELS: dict[str, type[TaskData]] = {
    "export": ExportTask, "erase": EraseTask, "rectify": RectifyTask, "restrict": RestrictTask, "lift": LiftTask,
}


def legal_purposes(classes: Sequence[str]) -> list[dict[str, str]]:
    """The ``restrict-to-legal-purpose`` instruction for what a system keeps of ``classes``."""
    return [{"retention_class": c, "citation": RETENTION_CLASSES[c].citation} for c in classes if c in RETENTION_CLASSES]


#: A subject's transit key for opening their sealed answers (None: destroyed, the subject was erased).
AnswerKey = Callable[[str], Awaitable[bytes | None]]


class Tasks:
    def __init__(self, ctx: Context, lifecycle: Lifecycle) -> None:
        self.ctx = ctx
        self.lifecycle = lifecycle

    async def plan(self, conn: asyncpg.Connection, req: Request) -> list[domain.PlannedTask]:
        """What each registered system must do for the request once approved (a retired one: nothing)."""
        active = [dict(s) for s in await store.systems(conn) if s["retired_at"] is None]
        return domain.plan_tasks(req.type, active)

    @staticmethod
    def needs_transit_key(planned: Sequence[domain.PlannedTask]) -> bool:
        """Whether the tasks carry personal data (a rectification's corrections), sealed for the subject."""
        return any(t.kind == "rectify" for t in planned)

    # --- sending ---------------------------------------------------------------------------------

    async def send_all(self, conn: asyncpg.Connection, req: Request, planned: Sequence[domain.PlannedTask], *,
                       details: dict[str, Any], transit: TransitKey | None) -> None:
        for task in planned:
            await self.send(conn, req, task.system_id, task.kind, details=details, transit=transit,
                            retain_classes=task.retain_classes, amend_classes=task.amend_classes)

    async def send(self, conn: asyncpg.Connection, req: Request, system_id: str, kind: str, *,
                   details: dict[str, Any], transit: TransitKey | None = None,
                   retain_classes: Sequence[str] = (), amend_classes: Sequence[str] = ()) -> None:
        now = self.ctx.clock()
        task_id = uuid.uuid4()
        plan: dict[str, Any] = {}
        if kind == "erase":
            plan["retain_classes"] = list(retain_classes)
            # What a law keeps of an erasure is kept for the law's purpose only (PIPA Art. 21(3)).
            plan["restrict_to_legal_purpose"] = legal_purposes(retain_classes)
        if kind == "rectify":
            # Sealed once, with the task key of this subject and this system (derived from the
            # subject's transit root): the plan (and every re-send of the task) holds only the JWE,
            # which no other system can open and the erasure of the subject makes unreadable everywhere.
            assert transit is not None and transit.subject_id == req.subject_id, \
                "a rectify task needs the subject's transit key"
            plan["sealed"] = sealing.seal({"corrections": details.get("corrections", [])},
                                          sealing.task_key(transit.key, system_id), kid=transit.subject_id)
            plan["amend_classes"] = list(amend_classes)
        due = min(now + self.ctx.settings.task_timeout, max(req.due_at, now))
        await store.insert_task(conn, {"task_id": task_id, "request_id": req.request_id, "system_id": system_id,
                                       "kind": kind, "plan": plan, "sent_at": now, "answer_due": due})
        await self._publish(conn, req, task_id=task_id, system_id=system_id, kind=kind, plan=plan,
                            attempt=1, due=due)

    async def _publish(self, conn: asyncpg.Connection, req: Request, *, task_id: uuid.UUID,
                       system_id: str, kind: str, plan: dict[str, Any], attempt: int, due: datetime) -> None:
        model = TASK_MODELS[kind]
        task = model(task_id=str(task_id), request_id=str(req.request_id), reference=req.reference,
                     system_id=system_id, subject_id=req.subject_id, jurisdiction=req.jurisdiction,
                     attempt=attempt, due_at=due, **plan)
        data = task.model_dump(mode="json")
        for optional in ("corrections", "sealed"):  # a rectify task gives one of the two, not both
            if optional in data and data[optional] is None:
                del data[optional]
        event = new_event(source=SOURCE, type=task.event_type, subject=task.kafka_key(), data=data)
        await outbox.enqueue_event(conn, event, topic=task.topic, key=task.kafka_key())

    async def chase(self, conn: asyncpg.Connection, task: Task) -> None:
        """A task whose answer is late: sent again (the same plan), or, after the last attempt,
        given up and the privacy manager told."""
        req = await store.request(conn, task.request_id)
        assert req is not None, "a task belongs to a request"
        if task.attempts < self.ctx.settings.task_max_attempts:
            due = self.ctx.clock() + self.ctx.settings.task_timeout
            await store.resend_task(conn, task.task_id, due)
            await self._publish(conn, req, task_id=task.task_id, system_id=task.system_id, kind=task.kind,
                                plan=task.plan, attempt=task.attempts + 1, due=due)
            log.info("re-sent task %s to %s (attempt %d)", task.task_id, task.system_id, task.attempts + 1)
        else:
            await store.give_up_task(conn, task.task_id)
            await self.lifecycle.publish(conn, RequestTaskUnanswered, req, task_id=str(task.task_id),
                                         system_id=task.system_id, attempts=task.attempts)
            log.warning("task %s: %s never answered", task.task_id, task.system_id)

    # --- answers ---------------------------------------------------------------------------------

    async def check_result(self, conn: asyncpg.Connection, result: TaskResult, *,
                           lock: bool = False) -> tuple[Task, Request] | None:
        """The task and request an answer is for, after checking it names them rightly; None when
        the task was already answered (a duplicate). Writes nothing."""
        try:
            task_id = uuid.UUID(result.task_id)
        except ValueError:
            raise errors.UnknownTask(f"There is no task '{result.task_id}'.") from None
        task = await store.task(conn, task_id, lock=lock)
        if task is None:
            raise errors.UnknownTask(f"There is no task '{result.task_id}'.")
        if task.system_id != result.system_id:
            raise errors.NotTheTasksSystem(
                f"Task {result.task_id} was sent to system '{task.system_id}', not '{result.system_id}'.")
        if str(task.request_id) != result.request_id:
            raise errors.NotTheTasksRequest("request_id does not match the task.")
        if task.closed_by is not None:
            raise errors.TaskClosedByHand(
                f"Task {result.task_id} was closed by hand by {task.closed_by} on {task.answered_at:%Y-%m-%d %H:%M} UTC, "
                f"without an answer from '{task.system_id}'; this late answer was not recorded. Tell the privacy "
                f"manager what it says.")
        if task.answered:
            return None
        req = await store.request(conn, task.request_id, lock=lock)
        assert req is not None, "a task belongs to a request"
        if result.subject_id != req.subject_id:
            raise errors.NotTheTasksSubject("subject_id does not match the task.")
        return task, req

    async def keyed_subject(self, conn: asyncpg.Connection, task_id: str, system_id: str) -> str:
        """The subject whose task key ``system_id`` may have for ``task_id``: only for its own task,
        only while the task is open. Writes nothing."""
        try:
            task = await store.task(conn, uuid.UUID(task_id))
        except ValueError:
            task = None
        if task is None:
            raise errors.UnknownTask(f"There is no task '{task_id}'.")
        if task.system_id != system_id:
            raise errors.NotYourTask(f"The key of system '{system_id}' gets the key of that system's tasks only.")
        if task.answered:
            raise errors.TaskAlreadyAnswered(f"Task {task_id} was answered or closed: its key is given no more.")
        req = await store.request(conn, task.request_id)
        assert req is not None, "a task belongs to a request"
        if req.subject_id is None:
            raise errors.UnknownTask(f"Task {task_id} is of no known subject: nothing in it is sealed.")
        return req.subject_id

    async def opened(self, conn: asyncpg.Connection, result: TaskResult, key: AnswerKey) -> TaskResult:
        """The answer ready to record: its ``sealed`` part opened with the subject's transit key
        (asked of ``key``), or dropped when the task was already answered (a duplicate stores nothing).

        The answer is checked against its task first, so a made-up subject never reaches ``key``.
        Over HTTP ``key`` asks the consent service, so the caller holds no transaction; on Kafka it
        reads the keys fetched before the batch's transaction.
        """
        if result.sealed is None:
            return result
        if await self.check_result(conn, result) is None:
            return result.model_copy(update={"sealed": None})
        return open_result(result, await key(result.subject_id))

    async def close_by_hand(self, conn: asyncpg.Connection, task_id: uuid.UUID, *, reason: str | Said, by: str,
                            request_id: uuid.UUID | None = None) -> None:
        """Close a task no answer will come for (the privacy manager's decision, or its system's
        retirement): recorded as a failed answer whose note says who closed it and why, in the
        request's audit trail too; the request then moves on as when its last system answers."""
        task = await store.task(conn, task_id, lock=True)
        if task is None or (request_id is not None and task.request_id != request_id):
            raise errors.UnknownTask(f"There is no task '{task_id}'" + (f" of request {request_id}." if request_id else "."))
        if task.answered:
            raise errors.TaskAlreadyAnswered(f"Task {task_id} was already answered or closed.")
        req = await store.request(conn, task.request_id, lock=True)
        assert req is not None, "a task belongs to a request"
        now = self.ctx.clock()
        note = f"Closed by hand by {by} on {now:%Y-%m-%d %H:%M} UTC, without an answer from {task.system_id}: {reason}"
        answer = {"task_id": str(task_id), "request_id": str(req.request_id), "system_id": task.system_id,
                  "subject_id": req.subject_id, "outcome": "failed", "note": note, "closed_by": by,
                  "close_reason": str(reason)}
        cipher = await self.ctx.cipher(conn, req)
        await store.answer_task(conn, task_id, outcome="failed", result=cipher.seal(answer, context=task.context),
                                at=now, closed_by=by)
        await store.add_transition(conn, req.request_id, at=now, actor=by, from_status=req.status,
                                   to_status=req.status, reason=Said("audit.task_closed",
                                                                  values={"task": str(task_id), "system": task.system_id,
                                                                          "reason": reason}))
        if req.status == "in_progress":
            await self.lifecycle.finish(conn, req)

    async def record_result(self, conn: asyncpg.Connection, result: TaskResult) -> bool:
        """Store a system's answer to a task, its ``sealed`` part already opened (:meth:`opened`),
        sealed under the request's own key. Returns False for a duplicate answer (ignored)."""
        if result.sealed is not None:
            raise ValueError("open the sealed part of a result (opened) before recording it")
        checked = await self.check_result(conn, result, lock=True)
        if checked is None:
            return False
        task, req = checked
        cipher = await self.ctx.cipher(conn, req)
        await store.answer_task(conn, task.task_id, outcome=result.outcome,
                                result=cipher.seal(result.model_dump(mode="json", exclude={"sealed"}),
                                                   context=task.context), at=self.ctx.clock())
        if req.status == "in_progress":
            await self.lifecycle.finish(conn, req)
        return True
