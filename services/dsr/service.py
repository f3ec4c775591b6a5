"""The request service's rules, as the API, the portal, the dashboard, the consumer and the
scheduler call them: one object over the parts that hold them (``intake``, ``reading``,
``workflow``, ``tasks``, ``results``, ``lifecycle``), put together in ``app.py`` (``build_service``).

Every method works on the caller's connection and never commits; a change is made in the
caller's transaction, on the request it loaded locked (``load(..., lock=True)``). Nothing here
calls another service inside a transaction: what needs the consent service (a transit key) is
asked before (``transit_for_decision``, ``opened``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from services.dsr import errors, store
from services.dsr.breaches.register import Breaches
from services.dsr.context import Context, TransitKeyLookup
from services.dsr.intake import Intake
from services.dsr.lifecycle import Lifecycle
from services.dsr.model import Request, Task, TransitKey
from services.dsr.reading import Known, Reading
from services.dsr.report_view import SystemWords
from services.dsr.results import ConsentHistory, Results
from services.dsr.schemas import (
    Answer,
    Decide,
    Extend,
    JoinGuardian,
    OpenRequest,
    RecordVerification,
    RequestOut,
    RequestSummary,
)
from services.dsr.settings import DsrSettings
from services.dsr.system_schemas import RegisterSystem, SystemOut
from services.dsr.systems import Systems
from services.dsr.tasks import AnswerKey, Tasks
from services.dsr.telling import Telling
from services.dsr.workflow import Workflow
from shared import sealing
from shared.auth import Principal
from shared.crypto import SubjectCipher, SubjectKeys
from shared.events import TaskResult


class RequestService:
    def __init__(self, ctx: Context, *, lifecycle: Lifecycle, reading: Reading, intake: Intake,
                 workflow: Workflow, tasks: Tasks, results: Results, systems: Systems,
                 breaches: Breaches | None = None, telling: Telling | None = None) -> None:
        self.ctx = ctx
        #: Telling the requester: their contact for the notifier, the acknowledgement, what is needed.
        self.telling = telling or Telling(ctx, lifecycle)
        self.systems = systems
        #: The breach register (``services/dsr/breaches``), over the same context and clock.
        self.breaches = breaches or Breaches(ctx)
        self.lifecycle = lifecycle
        self.reading = reading
        self.intake = intake
        self.workflow = workflow
        self.tasks = tasks
        self.results = results
        #: The provision log (what a law made the clinic provide), which the access report reads too.
        self.provisions = results.provisions
        #: Destructions: what the clinic may no longer keep goes from every holding system, with evidence.
        self.destructions = systems.destructions

    # What every part shares; changing the clock or the transit-key lookup changes it for all.

    @property
    def settings(self) -> DsrSettings:
        return self.ctx.settings

    @property
    def keys(self) -> SubjectKeys:
        return self.ctx.keys

    @property
    def zone(self) -> ZoneInfo:
        return self.ctx.zone

    @property
    def clock(self) -> Callable[[], datetime]:
        return self.ctx.clock

    @clock.setter
    def clock(self, clock: Callable[[], datetime]) -> None:
        self.ctx.clock = clock

    @property
    def transit_key(self) -> TransitKeyLookup | None:
        return self.ctx.transit_key

    @transit_key.setter
    def transit_key(self, lookup: TransitKeyLookup | None) -> None:
        self.ctx.transit_key = lookup

    # --- intake and reading ----------------------------------------------------------------------

    async def open(self, conn: asyncpg.Connection, command: OpenRequest, *,
                   staff: Principal | None) -> tuple[RequestOut, str]:
        return await self.intake.open(conn, command, staff=staff)

    async def load(self, conn: asyncpg.Connection, request_id: str, *, lock: bool = False) -> Request:
        return await self.reading.load(conn, request_id, lock=lock)

    def check_token(self, req: Request, token: str) -> None:
        self.reading.check_token(req, token)

    def waiting_for(self, req: Request) -> list[str]:
        return req.waiting_for()

    async def view(self, conn: asyncpg.Connection, req: Request, *, full: bool = True,
                   cipher: SubjectCipher | None = None, known: Known | None = None,
                   staff_only: bool = False) -> RequestOut:
        return await self.reading.view(conn, req, full=full, cipher=cipher, known=known, staff_only=staff_only)

    async def list(self, conn: asyncpg.Connection, **filters: Any) -> list[RequestSummary]:
        return await self.reading.list(conn, **filters)

    # --- the workflow ----------------------------------------------------------------------------

    async def join_guardian(self, conn: asyncpg.Connection, req: Request, body: JoinGuardian, *,
                            actor: str) -> Request:
        return await self.workflow.join_guardian(conn, req, body, actor=actor)

    async def verify(self, conn: asyncpg.Connection, req: Request, body: RecordVerification, *, by: str) -> Request:
        return await self.workflow.verify(conn, req, body, by=by)

    async def transit_for_decision(self, conn: asyncpg.Connection, request_id: str, body: Decide) -> TransitKey | None:
        return await self.workflow.transit_for_decision(conn, request_id, body)

    async def decide(self, conn: asyncpg.Connection, req: Request, body: Decide, *, by: str,
                     transit: TransitKey | None = None) -> Request:
        return await self.workflow.decide(conn, req, body, by=by, transit=transit)

    async def extend(self, conn: asyncpg.Connection, req: Request, body: Extend, *, by: str) -> Request:
        return await self.workflow.extend(conn, req, body, by=by)

    async def answer(self, conn: asyncpg.Connection, req: Request, body: Answer, *, by: str) -> Request:
        return await self.workflow.answer(conn, req, body, by=by)

    async def withdraw(self, conn: asyncpg.Connection, req: Request, *, actor: str, reason: str | None) -> Request:
        return await self.workflow.withdraw(conn, req, actor=actor, reason=reason)

    async def lift(self, conn: asyncpg.Connection, req: Request, *, by: str) -> Request:
        return await self.workflow.lift(conn, req, by=by)

    # --- clinic systems, their answers, results ---------------------------------------------------

    async def register_system(self, conn: asyncpg.Connection, body: RegisterSystem,
                              by: Principal) -> tuple[SystemOut, bool]:
        return await self.systems.register(conn, body, by)

    async def check_result(self, conn: asyncpg.Connection, result: TaskResult, *,
                           lock: bool = False) -> tuple[Task, Request] | None:
        return await self.tasks.check_result(conn, result, lock=lock)

    async def opened(self, conn: asyncpg.Connection, result: TaskResult, key: AnswerKey | None = None) -> TaskResult:
        """The answer ready to record (see :meth:`Tasks.opened`); ``key`` defaults to asking the
        consent service, so then ``conn`` must hold no transaction. A destroy task's answer is the
        destruction log's (:mod:`services.dsr.destruction`)."""
        if await self.destructions.owns(conn, result.task_id):
            return await self.destructions.opened(conn, result, key or self.ctx.answer_key)
        return await self.tasks.opened(conn, result, key or self.ctx.answer_key)

    async def task_key(self, conn: asyncpg.Connection, task_id: str, system_id: str) -> TransitKey:
        """The key that opens what ``task_id`` carries sealed for ``system_id`` (its own open task
        only), with the subject it is of. Asks the consent service: ``conn`` holds no transaction."""
        subject_id = await self.tasks.keyed_subject(conn, task_id, system_id)
        root = await self.ctx.answer_key(subject_id)
        if root is None:
            raise errors.SubjectGone(f"Subject '{subject_id}' was erased: their keys are destroyed, and what "
                                     f"this task carried sealed can never be read.")
        return TransitKey(subject_id, sealing.task_key(root, system_id))

    async def record_result(self, conn: asyncpg.Connection, result: TaskResult) -> bool:
        if await self.destructions.owns(conn, result.task_id):
            return await self.destructions.record_result(conn, result)
        return await self.tasks.record_result(conn, result)

    async def result(self, conn: asyncpg.Connection, req: Request,
                     consent_history: ConsentHistory | None, *, staff_only: bool = False) -> dict[str, Any]:
        """The result; refused to staff once the request is closed (kept only by law, read by the
        privacy manager and the requester: dsr invariant 31)."""
        if staff_only and req.closed_at is not None:
            raise errors.KeptOnlyByLaw(
                f"Request {req.reference} is closed: its record is kept only as the law requires (a complaint "
                f"record) and its result is read by the privacy manager and the requester only.")
        return await self.results.result(conn, req, consent_history)

    async def system_words(self, conn: asyncpg.Connection) -> SystemWords:
        """The words the clinic systems registered for what they write (names, recipients)."""
        return SystemWords(await store.system_translations(conn))

    async def printable(self, req: Request, result: dict[str, Any], *, words: SystemWords,
                        language: str | None = None) -> bytes:
        """``result`` as the printable PDF, in the request's language unless the reader chose another
        (a 503 naming the fonts when they are not installed)."""
        from services.dsr import report_pdf  # its words are the portal's, whose routes import the API

        try:
            return await report_pdf.draw(result, language=language or req.language,
                                         clinic=self.settings.controller_name, zone=self.zone, now=self.clock(),
                                         font=self.settings.report_font, words=words)
        except report_pdf.NoReportFont as exc:
            raise errors.NoReportFont(str(exc)) from None

    # --- what the scheduler does -----------------------------------------------------------------

    async def notify_deadline(self, conn: asyncpg.Connection, req: Request) -> None:
        await self.lifecycle.notify_deadline(conn, req)

    async def chase(self, conn: asyncpg.Connection, task: Task) -> None:
        await self.tasks.chase(conn, task)

    async def destroy_record(self, conn: asyncpg.Connection, req: Request) -> None:
        await self.lifecycle.destroy_record(conn, req)

    async def breach_notices(self, conn: asyncpg.Connection) -> None:
        """The breach register's clock: each reminder due, once."""
        for breach in await self.breaches.due_for_notices(conn):
            await self.breaches.notify_clock(conn, breach)

