"""A person's consents, their history and the chain check, and a consent receipt: read from the
consent service's API (never its tables); and what a law made the clinic provide of their data
(the provision log, this service's own), with the form that records a provision."""

from __future__ import annotations

import urllib.parse
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel

from services.dsr.breaches import messages
from services.dsr.dashboard.frame import SUBJECT_ID, Checked, Consent, Frame, Page, Unreachable, get_json
from services.dsr.dashboard.posting import actor, attempt, local_input, moment
from services.dsr.provision_schemas import RecordProvision
from services.dsr.web.deps import Pool, Service
from shared.rules.breaches import DATA_CATEGORIES
from shared.rules.provisions import PROVISION_GROUNDS

router = APIRouter(include_in_schema=False)  # pages, not API operations


@router.get("/subjects", response_class=HTMLResponse)
async def subjects(frame: Page) -> Response:
    subject_id = (frame.request.query_params.get("subject_id") or "").strip()
    if subject_id and SUBJECT_ID.match(subject_id):
        return RedirectResponse(f"/dashboard/subjects/{urllib.parse.quote(subject_id)}", 303)
    return await frame.render("subjects.html", subject_id=subject_id, state=None, invalid=bool(subject_id))


@router.get("/subjects/{subject_id}", response_class=HTMLResponse)
async def subject_page(subject_id: str, frame: Page, consent: Consent, service: Service, pool: Pool) -> Response:
    return await _subject_page(frame, consent, service, pool, subject_id)


async def _subject_page(frame: Frame, consent: Any, service: Any, pool: Any, subject_id: str, *, status: int = 200,
                        message: str | None = None, errors: dict[str, str] | None = None,
                        values: dict[str, Any] | None = None) -> Response:
    if not SUBJECT_ID.match(subject_id):
        return await frame.render("subjects.html", status=404, subject_id=subject_id, state=None, invalid=True)
    quoted = urllib.parse.quote(subject_id, safe="")
    try:
        _, current = await get_json(consent, f"/v1/subjects/{quoted}/consents", "consent")
        _, history = await get_json(consent, f"/v1/subjects/{quoted}/consents/history", "consent")
        chain_status, chain = await get_json(consent, f"/v1/subjects/{quoted}/consents/verify", "consent")
    except Unreachable as exc:
        return await frame.render("subjects.html", status=502, subject_id=subject_id, state=None,
                                  unreachable=exc.service)
    async with pool.acquire() as conn:
        provisions = await service.provisions.log(conn, subject_id=subject_id)
    lang = frame.lang
    return await frame.render(
        "subjects.html", status=status, subject_id=subject_id,
        state={"current": current, "history": history, "chain": chain if chain_status == 200 else None},
        provisions=provisions, grounds={g: ground.view(lang) for g, ground in PROVISION_GROUNDS.items()},
        categories=DATA_CATEGORIES, category_name=lambda code: messages.category(lang, code),
        message=message, errors=errors or {}, values=values or {"data_categories": []},
        now_input=local_input(frame.request.app.state.dsr.clock(), frame),
        done=frame.request.query_params.get("done"))


@router.post("/subjects/{subject_id}/provisions")
async def record_provision(subject_id: str, frame: Page, form: Checked, consent: Consent, service: Service,
                           pool: Pool) -> Response:
    """Record a provision a law required: the API's rules, the signed-in person as who recorded it."""
    async def again(status: int, message: str, errors: dict[str, str]) -> Response:
        values: dict[str, Any] = {**form.firsts(without="csrf"), "data_categories": form.all("data_categories")}
        return await _subject_page(frame, consent, service, pool, subject_id, status=status, message=message,
                                   errors=errors, values=values)

    async def act(body: BaseModel) -> str:
        assert isinstance(body, RecordProvision)
        async with pool.acquire() as conn:
            await service.provisions.record(conn, body, by=actor(frame))
        return f"/dashboard/subjects/{urllib.parse.quote(subject_id, safe='')}?done=provision#h-provisions"

    def build() -> RecordProvision:
        return RecordProvision.model_validate({
            "subject_id": subject_id, "ground": form.field("ground") or "",
            "data_categories": form.all("data_categories"), "reference": form.text("reference"),
            "provided_at": moment(form, "provided_at", frame)})

    return await attempt(frame, again, build, act)


@router.get("/receipts/{record_id}", response_class=HTMLResponse)
async def receipt_page(record_id: str, frame: Page, consent: Consent) -> Response:
    try:
        status, receipt = await get_json(consent, f"/v1/consent-records/{urllib.parse.quote(record_id, safe='')}/receipt",
                                         "consent")
    except Unreachable as exc:
        return await frame.render("receipt.html", status=502, receipt=None, unreachable=exc.service)
    return await frame.render("receipt.html", status=200 if status == 200 else 404,
                              receipt=receipt if status == 200 else None, record_id=record_id)
