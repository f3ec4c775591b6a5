"""The queue of requests, a request's page, and its forms (verification, decision, a complaint's
answer, extension, the acknowledgement, asking the requester for more, lifting a hold, withdrawal): each form is one call of :class:`RequestService` in one transaction,
with the signed-in account as the actor and the same role rules as the API."""

from __future__ import annotations

import urllib.parse
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from services.dsr import domain
from services.dsr.dashboard.frame import Checked, Frame, Page, invalid_fields, problem_errors
from services.dsr.results import disagreements
from services.dsr.schemas import Answer, Decide, Extend, RecordVerification
from services.dsr.service import RequestService
from services.dsr.system_schemas import Reason
from services.dsr.telling_schemas import AskRequester
from services.dsr.web.deps import Pool, Service
from services.dsr.web.forms import Form
from shared.events import InformationNeeded, RequestStatus, RequestType
from shared.problems import Problem

STATUSES = list(RequestStatus.__args__)  # type: ignore[attr-defined]
TYPES = list(RequestType.__args__)  # type: ignore[attr-defined]
METHODS = list(RecordVerification.model_fields["method"].annotation.__args__)  # type: ignore[union-attr]
NEEDS = list(InformationNeeded.__args__)  # type: ignore[attr-defined]
OPEN_STATES = {"received", "verifying", "in_review", "approved", "in_progress"}

router = APIRouter(include_in_schema=False)  # pages, not API operations


def _tri(value: str | None) -> bool | None:
    return {"true": True, "false": False}.get(value or "")


@router.get("/", response_class=HTMLResponse)
async def queue(frame: Page, service: Service, pool: Pool) -> Response:
    q = frame.request.query_params
    status = q.get("status") if q.get("status") in STATUSES else None
    kind = q.get("type") if q.get("type") in TYPES else None
    guardian = _tri(q.get("guardian"))
    overdue = True if q.get("overdue") == "true" else None
    async with pool.acquire() as conn:
        items = await service.list(conn, status=status, overdue=overdue, type=kind, by_guardian=guardian,
                                   limit=500, offset=0)
    return await frame.render("queue.html", items=items, statuses=STATUSES, types=TYPES,
                              filters={"status": status or "", "type": kind or "", "guardian": q.get("guardian") or "",
                                       "overdue": overdue}, open_states=OPEN_STATES)


async def _request_page(frame: Frame, service: RequestService, pool: asyncpg.Pool, request_id: str, *, status: int = 200,
                        form: str | None = None, message: str | None = None, errors: dict[str, str] | None = None,
                        values: dict[str, Any] | None = None) -> HTMLResponse:
    async with pool.acquire() as conn:
        try:
            req = await service.load(conn, request_id)
        except Problem:
            return await frame.render("message.html", status=404, title=frame.t("not_found"), message=request_id)
        # A closed request's personal part is kept only by law: staff see it withheld (invariant 31).
        view = await service.view(conn, req, staff_only=not frame.manager)
        result = None
        if view.status in ("completed", "partially_completed", "rejected", "withdrawn"):
            try:
                result = await service.result(conn, req, None, staff_only=not frame.manager)
            except Problem:
                result = None
        words = await service.system_words(conn)
    lang = frame.lang
    return await frame.render("request.html", status=status, req=view, result=result, methods=METHODS, form=form,
                              message=message, errors=errors or {}, values=values or {},
                              done=frame.request.query_params.get("done"), manager=frame.manager,
                              # The grounds the clinic's law gives for this request, in the staff's words.
                              refusal_grounds=[(g.id, g.line(lang)) for g in domain.refusal_grounds(req.jurisdiction,
                                                                                                   req.type)],
                              extension_grounds=[(g.id, g.line(lang)) for g in domain.extension_grounds(req.jurisdiction)],
                              ground_line=lambda gid: domain.GROUNDS[gid].line(lang) if gid in domain.GROUNDS else gid,
                              remedies=domain.remedies(req.laws), needs=NEEDS, now=service.clock(),
                              disagreements=disagreements(view.subject, result["systems"]) if result else [],
                              words=words)


@router.get("/requests/{request_id}", response_class=HTMLResponse)
async def request_page(request_id: str, frame: Page, service: Service, pool: Pool) -> Response:
    return await _request_page(frame, service, pool, request_id)


@dataclass
class Action:
    """One form of the request page, posted: CSRF checked, then role, validation, the service."""

    request_id: str
    frame: Frame
    form: Form
    service: RequestService
    pool: asyncpg.Pool

    async def run(self, name: str, build: Callable[[Form], Any],
                  act: Callable[[Any, Any, Any], Awaitable[object]], *, manager_only: bool = False,
                  prepare: Callable[[Any, Any], Awaitable[Any]] | None = None,
                  irreversible: Callable[[Any], bool] = lambda command: False) -> Response:
        """``build`` the command from the form, then ``act(conn, req, command)`` on the locked request;
        ``prepare(conn, command)``, when given, turns the command into what ``act`` takes before the
        transaction (what another service gives, such as a transit key, is never asked inside it).
        A command ``irreversible`` says cannot be undone (a withdrawal, a refusal) needs the form's
        ``confirm`` box ticked, or the page comes back asking for it."""
        values = self.form.firsts(without="csrf")

        async def again(status: int, message: str, errors: dict[str, str] | None = None) -> Response:
            return await _request_page(self.frame, self.service, self.pool, self.request_id, status=status,
                                       form=name, message=message, errors=errors, values=values)

        if manager_only and not self.frame.manager:
            return await again(403, self.frame.t("manager_only"))
        try:
            command = build(self.form)
        except ValidationError as exc:
            # A rule of the whole form names its field in its message: the error goes beside that field.
            found = [{**e, "field": e["field"] or next((k for k in values if k in e["message"]), "")}
                     for e in invalid_fields(exc)]
            message, errors = problem_errors({"errors": found}, self.frame.lang)
            return await again(422, message, errors)
        if irreversible(command) and not self.form.checked("confirm"):
            needed = self.frame.t("confirm_needed")
            return await again(422, needed, {"confirm": needed})
        try:
            if prepare is not None:
                async with self.pool.acquire() as conn:
                    command = await prepare(conn, command)
            async with self.pool.acquire() as conn, conn.transaction():
                req = await self.service.load(conn, self.request_id, lock=True)
                await act(conn, req, command)
        except Problem as problem:
            message, errors = problem_errors(problem, self.frame.lang)
            return await again(problem.status, message, errors)
        return RedirectResponse(f"/dashboard/requests/{urllib.parse.quote(self.request_id)}?done={name}", 303)


def action(request_id: str, frame: Page, form: Checked, service: Service, pool: Pool) -> Action:
    return Action(request_id, frame, form, service, pool)


Posted = Annotated[Action, Depends(action)]


@router.post("/requests/{request_id}/verification")
async def post_verification(posted: Posted) -> Response:
    def build(form: Form) -> RecordVerification:
        return RecordVerification(method=form.field("method") or "", evidence_ref=form.field("evidence_ref") or "",
                                  representative_checked=form.checked("representative_checked"),
                                  subject_id=form.text("subject_id"), note=form.text("note"))

    return await posted.run("verification", build, lambda conn, req, body: posted.service.verify(
        conn, req, body, by=posted.frame.username))


@router.post("/requests/{request_id}/decision")
async def post_decision(posted: Posted) -> Response:
    def build(form: Form) -> Decide:
        return Decide(decision=form.field("decision") or "", ground=form.text("ground"),
                      legal_ground=form.text("legal_ground"), late_reason=form.text("late_reason"),
                      note=form.text("note"))

    async def prepare(conn: Any, body: Decide) -> tuple[Decide, Any]:
        return body, await posted.service.transit_for_decision(conn, posted.request_id, body)

    return await posted.run("decision", build, lambda conn, req, prepared: posted.service.decide(
        conn, req, prepared[0], by=posted.frame.username, transit=prepared[1]), manager_only=True, prepare=prepare,
        irreversible=lambda body: body.decision == "reject")


@router.post("/requests/{request_id}/extension")
async def post_extension(posted: Posted) -> Response:
    def build(form: Form) -> Extend:
        return Extend(ground=form.field("ground") or "", reason=form.field("reason") or "",
                      late_reason=form.text("late_reason"))

    return await posted.run("extension", build,
                            lambda conn, req, body: posted.service.extend(conn, req, body, by=posted.frame.username),
                            manager_only=True)


@router.post("/requests/{request_id}/answer")
async def post_answer(posted: Posted) -> Response:
    return await posted.run("answer", lambda form: Answer(answer=form.field("answer") or ""),
                            lambda conn, req, body: posted.service.answer(conn, req, body, by=posted.frame.username),
                            manager_only=True)


@router.post("/requests/{request_id}/acknowledgement")
async def post_acknowledgement(posted: Posted) -> Response:
    return await posted.run("acknowledgement", lambda form: None,
                            lambda conn, req, _: posted.service.telling.acknowledge(
                                conn, req, by=f"staff:{posted.frame.username}", via="staff"))


@router.post("/requests/{request_id}/needs")
async def post_needs(posted: Posted) -> Response:
    return await posted.run("needs", lambda form: AskRequester(needed=form.field("needed") or ""),
                            lambda conn, req, body: posted.service.telling.need(
                                conn, req, body.needed, by=posted.frame.username))


@router.post("/requests/{request_id}/lift")
async def post_lift(posted: Posted) -> Response:
    return await posted.run("lift", lambda form: None,
                            lambda conn, req, body: posted.service.lift(conn, req, by=posted.frame.username))


@router.post("/requests/{request_id}/withdraw")
async def post_withdraw(posted: Posted) -> Response:
    return await posted.run("withdraw", lambda form: form.text("reason"),
                            lambda conn, req, reason: posted.service.withdraw(
                                conn, req, actor=f"staff:{posted.frame.username}", reason=reason),
                            irreversible=lambda reason: True)


@router.post("/requests/{request_id}/tasks/{task_id}/close")
async def post_close_task(request_id: uuid.UUID, task_id: uuid.UUID, frame: Page, form: Checked, service: Service,
                          pool: Pool) -> Response:
    # Not through Action.run, which locks the request first: a task is locked before its request
    # everywhere (answers, retirement), so two of them never wait on each other in a cycle.
    page = f"/dashboard/requests/{urllib.parse.quote(str(request_id))}"
    if not frame.manager:
        return frame.page("message.html", status=403, title=frame.t("forbidden"), message=frame.t("manager_only"))
    if not form.checked("confirm"):  # a task closed by hand cannot be reopened
        return frame.page("message.html", status=422, title=frame.t("error"), message=frame.t("confirm_needed"))
    try:
        body = Reason(reason=form.field("reason") or "")
        async with pool.acquire() as conn, conn.transaction():
            await service.tasks.close_by_hand(conn, task_id, reason=body.reason, by=frame.username, request_id=request_id)
    except ValidationError as exc:
        message, _ = problem_errors({"errors": invalid_fields(exc)}, frame.lang)
        return frame.page("message.html", status=422, title=frame.t("error"), message=message)
    except Problem as problem:
        message, _ = problem_errors(problem, frame.lang)
        return frame.page("message.html", status=problem.status, title=frame.t("error"), message=message)
    return RedirectResponse(f"{page}?done=close_task", 303)
