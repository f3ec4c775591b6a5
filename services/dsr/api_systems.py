"""HTTP endpoints of the registry of clinic systems (``services/dsr/systems.py``): registering a
system, and the privacy manager's keys for it."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Path, Request, Response

from services.dsr import store
from services.dsr.api import ERRORS, _pool, _service, manager_only, staff_only
from services.dsr.system_schemas import IssuedKeyOut, IssueKey, KeyOut, Reason, RegisterSystem, SystemOut
from shared.auth import Principal, require
from shared.settings import Role

router = APIRouter(prefix="/v1", tags=["systems"])

SystemIdPath = Path(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$")


@router.post("/systems", status_code=201, response_model=SystemOut,
             responses={200: {"description": "Updated", "model": SystemOut}, **ERRORS})
async def register_system(body: RegisterSystem, request: Request, response: Response,
                          who: Principal = Depends(require(Role.system, Role.privacy_manager))) -> SystemOut:
    """Register a clinic data system (201), or update it (200): what it holds and keeps by law, the
    CloudEvents ``source`` it publishes as, the purposes it may check and any right granted to it.

    The privacy manager registers systems. A clinic system may update its own registration with
    its key, but not widen its source, purposes or rights. Grants the body leaves out are kept.
    """
    async with _pool(request).acquire() as conn, _service(request).systems.change(conn):
        system, created = await _service(request).register_system(conn, body, who)
    response.status_code = 201 if created else 200
    return system


@router.get("/systems", response_model=list[SystemOut], responses=ERRORS)
async def list_systems(request: Request, _: Principal = Depends(staff_only)) -> list[SystemOut]:
    async with _pool(request).acquire() as conn:
        return [SystemOut(**dict(s)) for s in await store.systems(conn)]


@router.post("/systems/{system_id}/keys", status_code=201, response_model=IssuedKeyOut, responses=ERRORS)
async def issue_key(body: IssueKey, request: Request, response: Response, system_id: str = SystemIdPath,
                    who: Principal = Depends(manager_only)) -> IssuedKeyOut:
    """Issue a key to a clinic system: shown this once, kept only as its SHA-256. It works on all
    three services as ``Authorization: Bearer <key>``, until it expires or is revoked. Two keys
    may be valid at once: issue the new one, switch the system over, revoke the old one."""
    async with _pool(request).acquire() as conn, _service(request).systems.change(conn):
        issued = await _service(request).systems.issue_key(conn, system_id, body, who)
    response.headers["Cache-Control"] = "no-store"
    return issued


@router.get("/systems/{system_id}/keys", response_model=list[KeyOut], responses=ERRORS)
async def list_keys(request: Request, system_id: str = SystemIdPath,
                    _: Principal = Depends(manager_only)) -> list[KeyOut]:
    """A system's keys, live and revoked (never the keys themselves)."""
    async with _pool(request).acquire() as conn:
        return await _service(request).systems.keys(conn, system_id)


@router.delete("/systems/{system_id}/keys/{key_id}", status_code=204, response_class=Response,
               responses={**ERRORS, 204: {"description": "Revoked (or already revoked)"}})
async def revoke_key(request: Request, system_id: str = SystemIdPath,
                     key_id: str = Path(min_length=1, max_length=64),
                     who: Principal = Depends(manager_only)) -> Response:
    """Revoke a key: refused (401) by every replica of all three services within a second."""
    async with _pool(request).acquire() as conn, _service(request).systems.change(conn):
        await _service(request).systems.revoke_key(conn, system_id, key_id, who)
    return Response(status_code=204)


@router.post("/systems/{system_id}/retire", response_model=SystemOut, responses=ERRORS)
async def retire_system(body: Reason, request: Request, system_id: str = SystemIdPath,
                        who: Principal = Depends(manager_only)) -> SystemOut:
    """Retire a system (the day it is replaced): no task goes to it from now on, its keys stop
    working on every service, and each of its open tasks is closed with the reason, so the
    requests waiting on it move on. Its source passes to whichever system is registered with it
    next; its id cannot be registered again (409). Retiring it again is a 200 that changes nothing
    (the first date, person and reason stay)."""
    async with _pool(request).acquire() as conn, _service(request).systems.change(conn):
        system = await _service(request).systems.retire(conn, system_id, reason=body.reason, by=who)
    return system


@router.post("/tasks/{task_id}/close", responses=ERRORS)
async def close_task(body: Reason, request: Request, task_id: uuid.UUID,
                     who: Principal = Depends(manager_only)) -> dict[str, Any]:
    """Close a task that will never be answered, with the reason: the request's result and audit
    trail show who closed it and why, and the request moves on if it was its last open task."""
    async with _pool(request).acquire() as conn, conn.transaction():
        service = _service(request)
        if await service.destructions.owns(conn, str(task_id)):  # a destroy task: the destruction log's
            await service.destructions.close_by_hand(conn, task_id, reason=body.reason, by=who.name)
        else:
            await service.tasks.close_by_hand(conn, task_id, reason=body.reason, by=who.name)
    return {"task_id": str(task_id), "closed": True}
