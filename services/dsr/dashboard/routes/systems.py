"""The clinic's data systems that requests fan out to, and registering one (a privacy manager only)."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

import asyncpg
from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from services.dsr import store
from services.dsr.dashboard.frame import Checked, Frame, Page, invalid_fields, problem_errors
from services.dsr.schemas import IssuedKeyOut, IssueKey, Reason, RegisterSystem
from services.dsr.service import RequestService
from services.dsr.web.deps import Pool, Service
from shared.auth import Principal
from shared.problems import Problem
from shared.rules.purposes import PURPOSES
from shared.rules.retention import RETENTION_CLASSES
from shared.settings import Role

router = APIRouter(include_in_schema=False)  # pages, not API operations


async def _systems_page(frame: Frame, pool: asyncpg.Pool, *, status: int = 200, message: str | None = None,
                        errors: dict[str, str] | None = None, values: dict[str, Any] | None = None) -> HTMLResponse:
    async with pool.acquire() as conn:
        systems = [dict(s) for s in await store.systems(conn)]
    return await frame.render("systems.html", status=status, systems=systems, retention_classes=RETENTION_CLASSES,
                              purposes=list(PURPOSES), message=message, errors=errors or {},
                              values=values or {"retention_classes": [], "purposes": []},
                              done=frame.request.query_params.get("done"), manager=frame.manager)


@router.get("/systems", response_class=HTMLResponse)
async def systems_page(frame: Page, pool: Pool) -> Response:
    return await _systems_page(frame, pool)


@router.post("/systems")
async def register_system(frame: Page, form: Checked, service: Service, pool: Pool) -> Response:
    categories = form.field("data_categories") or ""
    values: dict[str, Any] = {
        "system_id": form.field("system_id") or "", "name": form.field("name") or "",
        "description": form.field("description") or "", "data_categories": categories,
        "retention_classes": form.all("retention_classes"), "processor": form.checked("processor"),
        "source": form.field("source") or "", "purposes": form.all("purposes"),
        "consent_history": form.checked("consent_history")}
    if not frame.manager:
        return await _systems_page(frame, pool, status=403, message=frame.t("manager_publish"), values=values)
    try:
        body = RegisterSystem(
            system_id=values["system_id"], name=values["name"], description=values["description"] or None,
            data_categories=[c.strip() for c in categories.split(",") if c.strip()],
            retention_classes=values["retention_classes"], processor=values["processor"],
            source=values["source"] or None, purposes=values["purposes"],
            rights=["consent_history"] if values["consent_history"] else [])
        async with pool.acquire() as conn, service.systems.change(conn):
            await service.register_system(conn, body, _manager(frame))
    except ValidationError as exc:
        errors = {e["field"]: e["message"] for e in invalid_fields(exc)}
        return await _systems_page(frame, pool, status=422, message="; ".join(errors), errors=errors, values=values)
    except Problem as problem:
        message, errors = problem_errors(problem)
        return await _systems_page(frame, pool, status=problem.status, message=message, errors=errors, values=values)
    return RedirectResponse("/dashboard/systems?done=register", 303)


# --- a system's keys (the privacy manager) -------------------------------------------------------


def _manager(frame: Frame) -> Principal:
    return Principal(frame.username, Role.privacy_manager)


async def _keys_page(frame: Frame, pool: asyncpg.Pool, service: RequestService, system_id: str, *,
                     status: int = 200, issued: IssuedKeyOut | None = None, message: str | None = None,
                     errors: dict[str, str] | None = None) -> HTMLResponse:
    async with pool.acquire() as conn:
        system = await store.system(conn, system_id)
        keys = await service.systems.keys(conn, system_id) if system is not None else []
    if system is None:
        return frame.page("message.html", status=404, title=frame.t("not_found"), message=system_id)
    response = await frame.render("system_keys.html", status=status, system=dict(system), keys=keys, issued=issued,
                                  message=message, errors=errors or {})
    response.headers["Cache-Control"] = "no-store"  # a key just issued is on this page
    return response


@router.get("/systems/{system_id}/keys", response_class=HTMLResponse)
async def keys_page(system_id: str, frame: Page, pool: Pool, service: Service) -> Response:
    if not frame.manager:
        return frame.page("message.html", status=403, title=frame.t("forbidden"), message=frame.t("manager_publish"))
    return await _keys_page(frame, pool, service, system_id)


@router.post("/systems/{system_id}/keys", response_class=HTMLResponse)
async def issue_key(system_id: str, frame: Page, form: Checked, pool: Pool, service: Service) -> Response:
    if not frame.manager:
        return frame.page("message.html", status=403, title=frame.t("forbidden"), message=frame.t("manager_publish"))
    values: dict[str, Any] = {"name": form.field("name") or ""}
    if expires_on := form.field("expires_on"):
        try:  # the end of that day in the clinic's time zone
            day = date.fromisoformat(expires_on)
        except ValueError:
            return await _keys_page(frame, pool, service, system_id, status=422, message="expires_at",
                                    errors={"expires_at": "YYYY-MM-DD"})
        values["expires_at"] = datetime.combine(day, time.max, tzinfo=frame.dash.zone)
    try:
        body = IssueKey(**values)
        async with pool.acquire() as conn, service.systems.change(conn):
            issued = await service.systems.issue_key(conn, system_id, body, _manager(frame))
    except ValidationError as exc:
        errors = {e["field"]: e["message"] for e in invalid_fields(exc)}
        return await _keys_page(frame, pool, service, system_id, status=422, message="; ".join(errors), errors=errors)
    except Problem as problem:
        message, errors = problem_errors(problem)
        return await _keys_page(frame, pool, service, system_id, status=problem.status, message=message, errors=errors)
    return await _keys_page(frame, pool, service, system_id, status=201, issued=issued)


@router.post("/systems/{system_id}/keys/{key_id}/revoke")
async def revoke_key(system_id: str, key_id: str, frame: Page, form: Checked, pool: Pool, service: Service) -> Response:
    if not frame.manager:
        return frame.page("message.html", status=403, title=frame.t("forbidden"), message=frame.t("manager_publish"))
    try:
        async with pool.acquire() as conn, service.systems.change(conn):
            await service.systems.revoke_key(conn, system_id, key_id, _manager(frame))
    except Problem as problem:
        message, _ = problem_errors(problem)
        return await _keys_page(frame, pool, service, system_id, status=problem.status, message=message)
    return RedirectResponse(f"/dashboard/systems/{system_id}/keys", 303)


@router.post("/systems/{system_id}/retire")
async def retire(system_id: str, frame: Page, form: Checked, pool: Pool, service: Service) -> Response:
    if not frame.manager:
        return frame.page("message.html", status=403, title=frame.t("forbidden"), message=frame.t("manager_publish"))
    try:
        body = Reason(reason=form.field("reason") or "")
        async with pool.acquire() as conn, service.systems.change(conn):
            await service.systems.retire(conn, system_id, reason=body.reason, by=_manager(frame))
    except ValidationError as exc:
        errors = {e["field"]: e["message"] for e in invalid_fields(exc)}
        return await _keys_page(frame, pool, service, system_id, status=422, message="; ".join(errors), errors=errors)
    except Problem as problem:
        message, errors = problem_errors(problem)
        return await _keys_page(frame, pool, service, system_id, status=problem.status, message=message, errors=errors)
    return RedirectResponse(f"/dashboard/systems/{system_id}/keys", 303)
