"""HTTP endpoints of the breach register (``/v1/breaches``): thin, each one transaction around
the register's rules. Staff and the privacy manager record a breach and keep what is known up to
date; the privacy manager alone records who was told and closes it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response

from services.dsr.api import ERRORS, _pool, _service, manager_only, staff_only
from services.dsr.breaches.model import Breach
from services.dsr.breaches.register import Breaches
from services.dsr.breaches.schemas import (
    BreachOut,
    BreachSummary,
    CloseBreach,
    NoticeDraft,
    RecordBreach,
    RecordPeopleNotified,
    RecordRegulatorReport,
    ReportDraft,
    UpdateBreach,
)
from shared.auth import Principal
from shared.events import Language

router = APIRouter(prefix="/v1/breaches", tags=["breaches"])


def actor(who: Principal) -> str:
    """How the audit trail names the person who acted: their role and their key's (or account's) name."""
    return f"{who.role.value}:{who.name}"


def _register(request: Request) -> Breaches:
    return _service(request).breaches


async def _change(request: Request, breach_id: str, change: Callable[..., Awaitable[Breach]], *args: Any,
                  **kwargs: Any) -> BreachOut:
    register = _register(request)
    async with _pool(request).acquire() as conn:
        async with conn.transaction():
            breach = await register.load(conn, breach_id, lock=True)
            breach = await change(conn, breach, *args, **kwargs)
        return await register.view(conn, breach)


@router.post("", status_code=201, response_model=BreachOut, responses=ERRORS)
async def record_breach(body: RecordBreach, request: Request, response: Response,
                        who: Principal = Depends(staff_only)) -> BreachOut:
    """Record a suspected leak of personal information. Its 72-hour clock starts at
    ``discovered_at`` (``notify_by``): the people affected must be told by then, and the
    regulator too when ``regulator.required`` (1,000 or more people, sensitive or unique
    identifying information, or unlawful access from outside: PIPA Art. 34). The privacy
    manager is told at once, reminded at 24 and 48 hours, and told when the time is up."""
    register = _register(request)
    async with _pool(request).acquire() as conn:
        async with conn.transaction():
            breach = await register.record(conn, body, by=actor(who))
        response.headers["Location"] = f"/v1/breaches/{breach.breach_id}"
        return await register.view(conn, breach)


@router.get("", response_model=list[BreachSummary], responses=ERRORS)
async def list_breaches(request: Request, status: Literal["open", "closed"] | None = None,
                        limit: int = Query(default=100, ge=1, le=500),
                        offset: int = Query(default=0, ge=0, le=1_000_000_000),
                        _: Principal = Depends(staff_only)) -> list[BreachSummary]:
    """The register: open breaches first, the nearest deadline first, each with its clock."""
    async with _pool(request).acquire() as conn:
        return await _register(request).listing(conn, status=status, limit=limit, offset=offset)


@router.get("/{breach_id}", response_model=BreachOut, responses=ERRORS)
async def get_breach(breach_id: str, request: Request, _: Principal = Depends(staff_only)) -> BreachOut:
    """A breach: what is known (the subject ids and what staff wrote, opened), whether the
    regulator must be told and why, its clock, who was told when, and its audit trail."""
    register = _register(request)
    async with _pool(request).acquire() as conn:
        return await register.view(conn, await register.load(conn, breach_id))


@router.patch("/{breach_id}", response_model=BreachOut, responses=ERRORS)
async def update_breach(breach_id: str, body: UpdateBreach, request: Request,
                        who: Principal = Depends(staff_only)) -> BreachOut:
    """Correct or complete what is known (only the fields sent change). Whether the regulator
    must be told is decided again; a corrected ``discovered_at`` moves the clock."""
    return await _change(request, breach_id, _register(request).update, body, by=actor(who))


@router.post("/{breach_id}/people-notified", response_model=BreachOut, responses=ERRORS)
async def people_notified(breach_id: str, body: RecordPeopleNotified, request: Request,
                          who: Principal = Depends(manager_only)) -> BreachOut:
    """Record that people affected were told: when, how many, by which channels (once per
    mailing; everyone counts as told once as many were told as are affected)."""
    return await _change(request, breach_id, _register(request).people_notified, body, by=actor(who))


@router.post("/{breach_id}/regulator-report", response_model=BreachOut, responses=ERRORS)
async def regulator_report(breach_id: str, body: RecordRegulatorReport, request: Request,
                           who: Principal = Depends(manager_only)) -> BreachOut:
    """Record the report to the regulator (PIPC or KISA): when, to whom, its reference."""
    return await _change(request, breach_id, _register(request).regulator_reported, body, by=actor(who))


@router.post("/{breach_id}/close", response_model=BreachOut, responses=ERRORS)
async def close_breach(breach_id: str, body: CloseBreach, request: Request,
                       who: Principal = Depends(manager_only)) -> BreachOut:
    """Close a breach: ``handled`` once everyone who must be told was (409 otherwise), or
    ``not_a_breach`` when it turned out to be no leak (the clock stops)."""
    return await _change(request, breach_id, _register(request).close, body, by=actor(who))


@router.get("/{breach_id}/notice", response_model=NoticeDraft, responses=ERRORS)
async def notice(breach_id: str, request: Request, lang: Language = "ko",
                 _: Principal = Depends(staff_only)) -> NoticeDraft:
    """The draft notice to the people affected, in ``lang``: what leaked, when and how, what they
    can do, what the clinic does, where to ask. It names no one: send it to each person."""
    register = _register(request)
    async with _pool(request).acquire() as conn:
        return await register.notice(conn, await register.load(conn, breach_id), lang)


@router.get("/{breach_id}/report", response_model=ReportDraft, responses=ERRORS)
async def report(breach_id: str, request: Request, lang: Language = "ko",
                 _: Principal = Depends(staff_only)) -> ReportDraft:
    """The fields of the report to the regulator (Decree Art. 40), in ``lang``: controller and
    contact, items, number of people, when it happened and was found, how, cause, measures,
    remedies for the people, who was told, and whether the report is required."""
    register = _register(request)
    async with _pool(request).acquire() as conn:
        return await register.report(conn, await register.load(conn, breach_id), lang)
