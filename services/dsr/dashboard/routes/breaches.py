"""The breach register's pages: the list with each breach's clock and the form to record a
suspected breach; a breach's page with its clock, what is known, the draft notice and report, and
the forms that record who was told and close it (the privacy manager's). Each form is one call of
the register (``services/dsr/breaches``) in one transaction, with the signed-in person as actor and
the same role rules as the API; a refusal shows the form again with its fields' errors."""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel

from services.dsr.breaches import messages
from services.dsr.breaches.drafts import regulator_decision
from services.dsr.breaches.model import Breach
from services.dsr.breaches.register import Breaches
from services.dsr.breaches.schemas import (
    CloseBreach,
    RecordBreach,
    RecordPeopleNotified,
    RecordRegulatorReport,
    UpdateBreach,
)
from services.dsr.dashboard.frame import Checked, Frame, Page
from services.dsr.dashboard.posting import Unreadable, actor, attempt, local_input, moment
from services.dsr.web.deps import Pool, Service
from services.dsr.web.forms import Form
from shared import i18n
from shared.problems import Problem
from shared.rules import breaches as rules

router = APIRouter(include_in_schema=False)  # pages, not API operations

IDS = re.compile(r"[\s,;]+")


def _words(frame: Frame) -> Callable[..., str]:
    lang = frame.lang
    return lambda key, **values: messages.t(lang, key, **values)


def _number(form: Form, name: str) -> int | None:
    text = form.text(name)
    if text is None:
        return None
    if not (text.isascii() and text.isdigit()):
        raise Unreadable(name, "a number")
    return int(text)


def _facts(form: Form, frame: Frame) -> dict[str, Any]:
    """The facts a record or update form sends, as the API's bodies name them."""
    return {
        "description": form.text("description"),
        "occurred_at": moment(form, "occurred_at", frame),
        "discovered_at": moment(form, "discovered_at", frame),
        "subject_ids": [i for i in IDS.split(form.get("subject_ids") or "") if i],
        "subject_count": _number(form, "subject_count"),
        "data_categories": form.all("data_categories"),
        "sensitive": True if form.checked("sensitive") else None,
        "unique_identifiers": True if form.checked("unique_identifiers") else None,
        "cause": form.field("cause") or "unknown",
        "cause_detail": form.text("cause_detail"),
        "measures": form.all("measures"),
        "measures_detail": form.text("measures_detail"),
    }


def _values(form: Form) -> dict[str, Any]:
    """The form as it was sent, to fill it in again."""
    values: dict[str, Any] = form.firsts(without="csrf")
    for name in ("data_categories", "measures", "channels"):
        values[name] = form.all(name)
    return values


def _page_context(frame: Frame) -> dict[str, Any]:
    return {"b": _words(frame), "categories": rules.DATA_CATEGORIES, "causes": rules.CAUSES,
            "measures": rules.MEASURES, "channels": rules.CHANNELS, "regulators": rules.REGULATORS,
            "category_name": lambda code: messages.category(frame.lang, code), "manager": frame.manager,
            "now_input": local_input(frame.request.app.state.dsr.clock(), frame)}


async def _list_page(frame: Frame, register: Breaches, pool: asyncpg.Pool, *, status: int = 200,
                     message: str | None = None, errors: dict[str, str] | None = None,
                     values: dict[str, Any] | None = None) -> HTMLResponse:
    async with pool.acquire() as conn:
        items = await register.listing(conn, status=None, limit=500, offset=0)
    return await frame.render("breaches.html", status=status, items=items, message=message, errors=errors or {},
                              values=values or {"data_categories": [], "measures": []}, **_page_context(frame))


@router.get("/breaches", response_class=HTMLResponse)
async def breaches_page(frame: Page, service: Service, pool: Pool) -> Response:
    return await _list_page(frame, service.breaches, pool)


@router.post("/breaches")
async def record_breach(frame: Page, form: Checked, service: Service, pool: Pool) -> Response:
    register = service.breaches

    async def again(status: int, message: str, errors: dict[str, str]) -> Response:
        return await _list_page(frame, register, pool, status=status, message=message, errors=errors,
                                values=_values(form))

    async def act(body: BaseModel) -> str:
        assert isinstance(body, RecordBreach)
        async with pool.acquire() as conn, conn.transaction():
            breach = await register.record(conn, body, by=actor(frame))
        return f"/dashboard/breaches/{breach.breach_id}?done=record"

    def build() -> RecordBreach:
        return RecordBreach.model_validate({k: v for k, v in _facts(form, frame).items() if v is not None})

    return await attempt(frame, again, build, act)


async def _breach_page(frame: Frame, register: Breaches, pool: asyncpg.Pool, breach_id: str, *,
                       status: int = 200, form: str | None = None, message: str | None = None,
                       errors: dict[str, str] | None = None, values: dict[str, Any] | None = None) -> HTMLResponse:
    q = frame.request.query_params
    draft_lang = q.get("draft") or ""
    draft_lang = draft_lang if draft_lang in messages.LANGUAGES else frame.lang
    async with pool.acquire() as conn:
        try:
            breach = await register.load(conn, breach_id)
        except Problem:
            return await frame.render("message.html", status=404, title=frame.t("not_found"), message=breach_id)
        view = await register.view(conn, breach)
        notice = await register.notice(conn, breach, draft_lang)
        report = await register.report(conn, breach, draft_lang)
    return await frame.render(
        "breach.html", status=status, breach=view, notice=notice, report=report, draft_lang=draft_lang,
        decision=regulator_decision(frame.lang, breach), form=form, message=message, errors=errors or {},
        values=values or {}, done=q.get("done"), facts=_fact_inputs(view, frame), **_page_context(frame))


def _fact_inputs(view: Any, frame: Frame) -> dict[str, Any]:
    """The breach's facts as the update form shows them."""
    return {"description": view.description, "occurred_at": local_input(view.occurred_at, frame),
            "discovered_at": local_input(view.discovered_at, frame), "subject_ids": "\n".join(view.subject_ids),
            "subject_count": "" if view.subject_count is None else str(view.subject_count),
            "data_categories": view.data_categories, "cause": view.cause, "cause_detail": view.cause_detail or "",
            "measures": view.measures, "measures_detail": view.measures_detail or ""}


@router.get("/breaches/{breach_id}", response_class=HTMLResponse)
async def breach_page(breach_id: str, frame: Page, service: Service, pool: Pool) -> Response:
    return await _breach_page(frame, service.breaches, pool, breach_id)


async def _act_on(name: str, breach_id: str, frame: Frame, form: Form, register: Breaches, pool: asyncpg.Pool,
                  build: Callable[[], BaseModel], change: Callable[..., Awaitable[Breach]], *,
                  manager_only: bool) -> Response:
    """One form of a breach's page: the role, the command, the change on the locked breach."""

    async def again(status: int, message: str, errors: dict[str, str]) -> Response:
        return await _breach_page(frame, register, pool, breach_id, status=status, form=name, message=message,
                                  errors=errors, values=_values(form))

    if manager_only and not frame.manager:
        return await again(403, i18n.gettext(frame.lang, "breach.w.manager_only"), {})
    if name == "close" and not form.checked("confirm"):  # a closed breach is not reopened
        needed = i18n.gettext(frame.lang, "dashboard.confirm_needed")
        return await again(422, needed, {"confirm": needed})

    async def act(body: BaseModel) -> str:
        async with pool.acquire() as conn, conn.transaction():
            breach = await register.load(conn, breach_id, lock=True)
            await change(conn, breach, body, by=actor(frame))
        return f"/dashboard/breaches/{urllib.parse.quote(breach_id)}?done={name}"

    return await attempt(frame, again, build, act)


@router.post("/breaches/{breach_id}/update")
async def post_update(breach_id: str, frame: Page, form: Checked, service: Service, pool: Pool) -> Response:
    def build() -> UpdateBreach:
        facts = _facts(form, frame)
        # The form shows every fact: an emptied field means "not known", a flag left unticked
        # keeps what the data says.
        facts["sensitive"] = facts["sensitive"] or None
        facts["unique_identifiers"] = facts["unique_identifiers"] or None
        sent = {k: v for k, v in facts.items() if v is not None or k in ("occurred_at", "subject_count",
                                                                           "cause_detail", "measures_detail")}
        return UpdateBreach.model_validate(sent)

    return await _act_on("update", breach_id, frame, form, service.breaches, pool, build, service.breaches.update,
                         manager_only=False)


@router.post("/breaches/{breach_id}/people")
async def post_people(breach_id: str, frame: Page, form: Checked, service: Service, pool: Pool) -> Response:
    def build() -> RecordPeopleNotified:
        return RecordPeopleNotified.model_validate({
            "notified_at": moment(form, "notified_at", frame), "count": _number(form, "count"),
            "channels": form.all("channels")})

    return await _act_on("people", breach_id, frame, form, service.breaches, pool, build,
                         service.breaches.people_notified, manager_only=True)


@router.post("/breaches/{breach_id}/regulator")
async def post_regulator(breach_id: str, frame: Page, form: Checked, service: Service, pool: Pool) -> Response:
    def build() -> RecordRegulatorReport:
        return RecordRegulatorReport.model_validate({
            "reported_at": moment(form, "reported_at", frame), "regulator": form.field("regulator") or "",
            "reference": form.text("reference")})

    return await _act_on("regulator", breach_id, frame, form, service.breaches, pool, build,
                         service.breaches.regulator_reported, manager_only=True)


@router.post("/breaches/{breach_id}/close")
async def post_close(breach_id: str, frame: Page, form: Checked, service: Service, pool: Pool) -> Response:
    def build() -> CloseBreach:
        return CloseBreach.model_validate({"outcome": form.field("outcome") or "", "reason": form.field("reason") or ""})

    return await _act_on("close", breach_id, frame, form, service.breaches, pool, build, service.breaches.close,
                         manager_only=True)
