"""The clinic's data systems that requests fan out to, and registering one (a privacy manager only)."""

from __future__ import annotations

from typing import Any

import asyncpg
from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from services.dsr import store
from services.dsr.dashboard.frame import Checked, Frame, Page, invalid_fields, problem_errors
from services.dsr.schemas import RegisterSystem
from services.dsr.web.deps import Pool, Service
from shared.auth import Principal
from shared.problems import Problem
from shared.rules.retention import RETENTION_CLASSES
from shared.settings import Role

router = APIRouter(include_in_schema=False)  # pages, not API operations


async def _systems_page(frame: Frame, pool: asyncpg.Pool, *, status: int = 200, message: str | None = None,
                        errors: dict[str, str] | None = None, values: dict[str, Any] | None = None) -> HTMLResponse:
    async with pool.acquire() as conn:
        systems = [dict(s) for s in await store.systems(conn)]
    return await frame.render("systems.html", status=status, systems=systems, retention_classes=RETENTION_CLASSES,
                              message=message, errors=errors or {}, values=values or {"retention_classes": []},
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
        "retention_classes": form.all("retention_classes"), "processor": form.checked("processor")}
    if not frame.manager:
        return await _systems_page(frame, pool, status=403, message=frame.t("manager_publish"), values=values)
    try:
        body = RegisterSystem(
            system_id=values["system_id"], name=values["name"], description=values["description"] or None,
            data_categories=[c.strip() for c in categories.split(",") if c.strip()],
            retention_classes=values["retention_classes"], processor=values["processor"])
        async with pool.acquire() as conn, conn.transaction():
            await service.register_system(conn, body, Principal(frame.username, Role.privacy_manager))
    except ValidationError as exc:
        errors = {e["field"]: e["message"] for e in invalid_fields(exc)}
        return await _systems_page(frame, pool, status=422, message="; ".join(errors), errors=errors, values=values)
    except Problem as problem:
        message, errors = problem_errors(problem)
        return await _systems_page(frame, pool, status=problem.status, message=message, errors=errors, values=values)
    return RedirectResponse("/dashboard/systems?done=register", 303)
