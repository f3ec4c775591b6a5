"""A person's consents, their history and the chain check, and a consent receipt: read from the
consent service's API (never its tables)."""

from __future__ import annotations

import urllib.parse

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.dsr.dashboard.frame import SUBJECT_ID, Consent, Page, Unreachable, get_json

router = APIRouter(include_in_schema=False)  # pages, not API operations


@router.get("/subjects", response_class=HTMLResponse)
async def subjects(frame: Page) -> Response:
    subject_id = (frame.request.query_params.get("subject_id") or "").strip()
    if subject_id and SUBJECT_ID.match(subject_id):
        return RedirectResponse(f"/dashboard/subjects/{urllib.parse.quote(subject_id)}", 303)
    return await frame.render("subjects.html", subject_id=subject_id, state=None, invalid=bool(subject_id))


@router.get("/subjects/{subject_id}", response_class=HTMLResponse)
async def subject_page(subject_id: str, frame: Page, consent: Consent) -> Response:
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
    return await frame.render("subjects.html", subject_id=subject_id,
                              state={"current": current, "history": history,
                                     "chain": chain if chain_status == 200 else None})


@router.get("/receipts/{record_id}", response_class=HTMLResponse)
async def receipt_page(record_id: str, frame: Page, consent: Consent) -> Response:
    try:
        status, receipt = await get_json(consent, f"/v1/consent-records/{urllib.parse.quote(record_id, safe='')}/receipt",
                                         "consent")
    except Unreachable as exc:
        return await frame.render("receipt.html", status=502, receipt=None, unreachable=exc.service)
    return await frame.render("receipt.html", status=200 if status == 200 else 404,
                              receipt=receipt if status == 200 else None, record_id=record_id)
