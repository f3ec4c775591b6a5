"""HTTP endpoints of telling the requester (``services/dsr/telling.py``): their contact for the
notifier, Vietnam's acknowledgement, and what staff still need from them."""

from __future__ import annotations

from fastapi import APIRouter, Body, Depends, Request, Response

from services.dsr.api import ERRORS, PROBLEM, _act, _pool, _service, staff_only
from services.dsr.errors import OnlyTheNotifier
from services.dsr.schemas import RequestOut
from services.dsr.telling_schemas import Acknowledge, AskRequester, RequesterContact
from shared.auth import Principal, require
from shared.settings import Role

router = APIRouter(prefix="/v1", tags=["requests"])


def notifier_only(principal: Principal = Depends(require(Role.staff))) -> Principal:
    """The notifier's own key (configured with ``tells_requesters``): no person, no clinic system."""
    if not principal.tells_requesters:
        raise OnlyTheNotifier("Only the notifier's key (configured with tells_requesters) gets a requester's contact.")
    return principal


@router.post("/requests/{request_id}/requester-contact", response_model=RequesterContact,
             responses={**ERRORS, 410: PROBLEM})
async def requester_contact(request_id: str, request: Request, response: Response,
                            _: Principal = Depends(notifier_only)) -> RequesterContact:
    """How to tell the requester (email, sms or none), where, in which language, and their private
    link: asked by the notifier at each delivery and never kept. A POST, so that no cache or access
    log keeps it as a page. 410 once the request's personal data was destroyed."""
    service = _service(request)
    async with _pool(request).acquire() as conn:
        req = await service.load(conn, request_id)
        contact = await service.telling.contact(conn, req)
    response.headers["Cache-Control"] = "no-store"
    return contact


@router.post("/requests/{request_id}/acknowledgement", response_model=RequestOut, responses=ERRORS)
async def acknowledge(request_id: str, request: Request, body: Acknowledge = Body(default_factory=Acknowledge),
                      who: Principal = Depends(staff_only)) -> RequestOut:
    """Record that the request was acknowledged (Vietnam: within 2 working days), once: a second
    call returns the first. Staff record it by hand; the notifier when it told the requester it was
    received (``via`` email or sms, its key only). 409 for a request no law asks to acknowledge."""
    if body.via != "staff" and not who.tells_requesters:
        raise OnlyTheNotifier("Only the notifier records that the requester was told by email or SMS; staff send "
                              "via: staff.")
    actor = "notifier" if who.tells_requesters else f"{who.role.value}"
    return await _act(request, request_id, _service(request).telling.acknowledge, by=f"{actor}:{who.name}",
                      via=body.via)


@router.post("/requests/{request_id}/needs", response_model=RequestOut, responses=ERRORS)
async def ask_requester(request_id: str, body: AskRequester, request: Request,
                        who: Principal = Depends(staff_only)) -> RequestOut:
    """Staff need something more from the requester (by code): audited, and the requester is told in
    their language by the channel they gave. Only while the request is received or being verified."""
    return await _act(request, request_id, _service(request).telling.need, body.needed, by=who.name)
