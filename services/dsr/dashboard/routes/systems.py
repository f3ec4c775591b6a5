"""The clinic's data systems that requests fan out to: registering one, its keys, retiring it.

Each form is a change to the registry by the privacy manager (:class:`Change`): made in one
transaction of ``Systems.change``, so this replica knows it before the page answers, with any
refusal shown on the form's page again."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Annotated, Any, TypeVar

import asyncpg
from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from services.dsr import store
from services.dsr.dashboard.frame import Checked, Frame, Page, field_label, invalid_fields, problem_errors
from services.dsr.report_view import SystemWords
from services.dsr.service import RequestService
from services.dsr.system_schemas import IssuedKeyOut, IssueKey, Reason, RegisterSystem
from services.dsr.web.deps import Pool, Service
from services.dsr.web.forms import Form
from shared import i18n
from shared.auth import Principal
from shared.problems import Problem
from shared.rules.purposes import PURPOSES
from shared.rules.retention import RETENTION_CLASSES
from shared.settings import Role

router = APIRouter(include_in_schema=False)  # pages, not API operations

C = TypeVar("C")  # the command a form builds
R = TypeVar("R")  # what the change gives back
#: The form's page shown again: ``again(status, message, {field: message})``.
Again = Callable[[int, str, dict[str, str]], Awaitable[Response]]


async def _systems_page(frame: Frame, pool: asyncpg.Pool, *, status: int = 200, message: str | None = None,
                        errors: dict[str, str] | None = None, values: dict[str, Any] | None = None) -> HTMLResponse:
    async with pool.acquire() as conn:
        systems = [dict(s) for s in await store.systems(conn)]
        words = SystemWords(await store.system_translations(conn))
    return await frame.render("systems.html", status=status, systems=systems, retention_classes=RETENTION_CLASSES,
                              words=words,
                              purposes=list(PURPOSES), message=message, errors=errors or {},
                              purpose_name=lambda p: i18n.word(frame.lang, "purpose", p),
                              retention_name=lambda rc: i18n.word(frame.lang, "retention", rc),
                              values=values or {"retention_classes": [], "purposes": []},
                              done=frame.request.query_params.get("done"), manager=frame.manager)


@router.get("/systems", response_class=HTMLResponse)
async def systems_page(frame: Page, pool: Pool) -> Response:
    return await _systems_page(frame, pool)


@dataclass
class Change:
    """A form of the systems pages, posted (CSRF checked): the privacy manager's alone; the command
    built from the form, the change made inside ``Systems.change``, any refusal shown by ``again``."""

    frame: Frame
    form: Form
    service: RequestService
    pool: asyncpg.Pool
    again: Again

    @property
    def by(self) -> Principal:
        return Principal(self.frame.username, Role.privacy_manager)

    async def run(self, build: Callable[[Form], C], act: Callable[[asyncpg.Connection, C], Awaitable[R]],
                  then: str | Callable[[R], Awaitable[Response]], *, irreversible: bool = False) -> Response:
        """``build`` the command from the form, ``act(conn, command)`` in the change's transaction;
        then to the address ``then``, or the page ``then(what act gave back)``."""
        if not self.frame.manager:
            return await self.again(403, self.frame.t("manager_publish"), {})
        if irreversible and not self.form.checked("confirm"):  # what cannot be undone is confirmed first
            needed = self.frame.t("confirm_needed")
            return await self.again(422, needed, {"confirm": needed})
        try:
            command = build(self.form)
            async with self.pool.acquire() as conn, self.service.systems.change(conn):
                outcome = await act(conn, command)
        except ValidationError as exc:
            message, errors = problem_errors({"errors": invalid_fields(exc)}, self.frame.lang)
            return await self.again(422, message, errors)
        except Unreadable as exc:
            return await self.again(422, field_label(self.frame.lang, exc.field), {exc.field: exc.expected})
        except Problem as problem:
            message, errors = problem_errors(problem, self.frame.lang)
            return await self.again(problem.status, message, errors)
        return RedirectResponse(then, 303) if isinstance(then, str) else await then(outcome)


class Unreadable(Exception):
    """A field that no model of the API reads as the browser sends it (a day, for an expiry)."""

    def __init__(self, field: str, expected: str) -> None:
        super().__init__(field)
        self.field = field
        self.expected = expected


#: The declarations of the registry of recipients, as the form names them (RegisterSystem's fields).
DECLARED = ("legal_basis", "legal_citation", "entrusted_duty", "contract_from", "contract_until")


@router.post("/systems")
async def register_system(frame: Page, form: Checked, service: Service, pool: Pool) -> Response:
    categories = form.field("data_categories") or ""
    values: dict[str, Any] = {
        "system_id": form.field("system_id") or "", "name": form.field("name") or "",
        "description": form.field("description") or "", "data_categories": categories,
        "retention_classes": form.all("retention_classes"), "processor": form.checked("processor"),
        "source": form.field("source") or "", "purposes": form.all("purposes"),
        "consent_history": form.checked("consent_history"),
        # What the privacy manager declares of a system outside the clinic (PIPA Arts. 17, 26).
        **{name: form.field(name) or "" for name in DECLARED}}

    async def again(status: int, message: str, errors: dict[str, str]) -> Response:
        return await _systems_page(frame, pool, status=status, message=message, errors=errors, values=values)

    def build(_: Form) -> RegisterSystem:
        return RegisterSystem(
            system_id=values["system_id"], name=values["name"], description=values["description"] or None,
            data_categories=[c.strip() for c in categories.split(",") if c.strip()],
            retention_classes=values["retention_classes"], processor=values["processor"],
            source=values["source"] or None, purposes=values["purposes"],
            rights=["consent_history"] if values["consent_history"] else [],
            **{name: values[name] for name in DECLARED if values[name]})  # left empty: what was declared stays

    change = Change(frame, form, service, pool, again)
    return await change.run(build, lambda conn, body: service.register_system(conn, body, change.by),
                            "/dashboard/systems?done=register")


# --- a system's keys (the privacy manager) -------------------------------------------------------


async def _keys_page(frame: Frame, pool: asyncpg.Pool, service: RequestService, system_id: str, *,
                     status: int = 200, issued: IssuedKeyOut | None = None, message: str | None = None,
                     errors: dict[str, str] | None = None) -> HTMLResponse:
    if not frame.manager:  # the page lists the keys: never shown to anyone else, whatever the form
        return frame.page("message.html", status=403, title=frame.t("forbidden"), message=frame.t("manager_publish"))
    async with pool.acquire() as conn:
        system = await store.system(conn, system_id)
        keys = await service.systems.keys(conn, system_id) if system is not None else []
        words = await service.system_words(conn)
    if system is None:
        return frame.page("message.html", status=404, title=frame.t("not_found"), message=system_id)
    response = await frame.render("system_keys.html", status=status, system=dict(system), keys=keys, issued=issued,
                                  message=message, errors=errors or {}, words=words)
    response.headers["Cache-Control"] = "no-store"  # a key just issued is on this page
    return response


@router.get("/systems/{system_id}/keys", response_class=HTMLResponse)
async def keys_page(system_id: str, frame: Page, pool: Pool, service: Service) -> Response:
    return await _keys_page(frame, pool, service, system_id)


def keys_change(system_id: str, frame: Page, form: Checked, service: Service, pool: Pool) -> Change:
    """A form of a system's keys page (issue, revoke, retire), shown again on that page."""

    async def again(status: int, message: str, errors: dict[str, str]) -> Response:
        return await _keys_page(frame, pool, service, system_id, status=status, message=message, errors=errors)

    return Change(frame, form, service, pool, again)


KeysForm = Annotated[Change, Depends(keys_change)]


@router.post("/systems/{system_id}/keys", response_class=HTMLResponse)
async def issue_key(system_id: str, change: KeysForm) -> Response:
    def build(form: Form) -> IssueKey:
        values: dict[str, Any] = {"name": form.field("name") or ""}
        if expires_on := form.field("expires_on"):
            try:  # the end of that day in the clinic's time zone
                day = date.fromisoformat(expires_on)
            except ValueError:
                raise Unreadable("expires_at", "YYYY-MM-DD") from None
            values["expires_at"] = datetime.combine(day, time.max, tzinfo=change.frame.dash.zone)
        return IssueKey(**values)

    async def shown(issued: IssuedKeyOut) -> Response:
        return await _keys_page(change.frame, change.pool, change.service, system_id, status=201, issued=issued)

    return await change.run(build, lambda conn, body: change.service.systems.issue_key(conn, system_id, body, change.by),
                            shown)


@router.post("/systems/{system_id}/keys/{key_id}/revoke")
async def revoke_key(system_id: str, key_id: str, change: KeysForm) -> Response:
    return await change.run(lambda form: None,
                            lambda conn, _: change.service.systems.revoke_key(conn, system_id, key_id, change.by),
                            f"/dashboard/systems/{system_id}/keys", irreversible=True)


@router.post("/systems/{system_id}/retire")
async def retire(system_id: str, change: KeysForm) -> Response:
    return await change.run(lambda form: Reason(reason=form.field("reason") or ""),
                            lambda conn, body: change.service.systems.retire(conn, system_id, reason=body.reason,
                                                                             by=change.by),
                            f"/dashboard/systems/{system_id}/keys", irreversible=True)
