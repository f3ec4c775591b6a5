"""HTTP endpoints of the request service: thin, each one transaction around the service's rules."""

from __future__ import annotations

import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from fastapi import APIRouter, Body, Depends, Query, Request, Response
from fastapi.security import HTTPBearer

from services.dsr import domain
from services.dsr.errors import NotSignedIn, NotStaff, NotYourTask, TaskIdMismatch, TooManyRequests
from services.dsr.model import Request as DsrRequest
from services.dsr.schemas import (
    Answer,
    Decide,
    Extend,
    GroundListed,
    JoinGuardian,
    LegalGrounds,
    OpenedRequest,
    OpenRequest,
    RecordVerification,
    RemedyListed,
    RequestOut,
    RequestSummary,
    Withdraw,
)
from services.dsr.service import RequestService
from services.dsr.system_schemas import TaskKeyOut, TaskSigningKeyOut
from shared.auth import API_KEY_SCHEME, Principal, require
from shared.events import RequestStatus, RequestType, TaskResult
from shared.problems import Unauthorized
from shared.runtime import NO_KEY, UNKNOWN_QUERY
from shared.sealing import encode_key
from shared.settings import Role

__all__ = ["IntakeLimiter", "TooManyRequests", "client_address", "router"]

router = APIRouter(prefix="/v1")

PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}
ERRORS: dict[int | str, dict[str, Any]] = {401: PROBLEM, 403: PROBLEM, 404: PROBLEM, 409: PROBLEM, 422: PROBLEM}

staff_only = require(Role.staff, Role.privacy_manager)
manager_only = require(Role.privacy_manager)

#: The requester's token is a bearer credential too. The routes it opens depend on both schemes
#: only so that their OpenAPI ``security`` says "a staff key or the token"; _viewer checks them.
_requester_token = HTTPBearer(auto_error=False, scheme_name="RequesterToken", description=(
    "The requester's token, returned once when the request was filed: Authorization: Bearer <token>"))
TOKEN_OR_STAFF = [Depends(API_KEY_SCHEME), Depends(_requester_token)]
#: Filing: anyone, without a key; staff entering a request made by phone or paper send theirs.
KEY_OPTIONAL: dict[str, Any] = {"security": [{}, {API_KEY_SCHEME.scheme_name: []}]}


def client_address(request: Request) -> str:
    """The address a request is counted under by the per-address limits (the public intake, staff
    sign-in): its socket peer's, or the client a proxy of ``DONGUI_FORWARDED_ALLOW_IPS`` forwards
    (``shared.runtime.create_app``). Behind a proxy not listed there, every client is the proxy."""
    return request.client.host if request.client else "unknown"


class IntakeLimiter:
    """At most ``per_minute`` public filings per client address (:func:`client_address`; a
    sliding window, per replica). Staff entering requests with their key are not limited.
    """

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._seen: dict[str, deque[float]] = defaultdict(deque)

    def check(self, client: str) -> None:
        now = time.monotonic()
        window = self._seen[client]
        while window and now - window[0] > 60:
            window.popleft()
        if len(window) >= self.per_minute:
            raise TooManyRequests(f"At most {self.per_minute} requests a minute may be filed from one address; "
                                  f"please wait a minute or contact the clinic.")
        window.append(now)
        if len(self._seen) > 100_000:  # forget quiet addresses rather than grow without bound
            for key in [k for k, v in self._seen.items() if not v or now - v[-1] > 60]:
                del self._seen[key]


def _service(request: Request) -> RequestService:
    return request.app.state.dsr


def _pool(request: Request) -> asyncpg.Pool:
    return request.app.state.runtime.pool


async def _optional_staff(request: Request) -> Principal | None:
    """A staff key if one is sent (to record the channel and who entered it); none is fine."""
    header = request.headers.get("authorization")
    if not header:
        return None
    principal = request.app.state.keyring.authenticate(header)
    if principal.role not in (Role.staff, Role.privacy_manager):
        raise NotStaff("Only staff may enter a request on someone's behalf.")
    return principal


async def _viewer(request: Request, request_id: str, conn: asyncpg.Connection) -> tuple[DsrRequest, str]:
    """Staff (by API key) or the requester (by their token) may read a request."""
    header = request.headers.get("authorization") or ""
    scheme, _, credential = header.partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        raise NotSignedIn("Send 'Authorization: Bearer <token>' (the requester's token) or a staff API key.")
    service = _service(request)
    req = await service.load(conn, request_id)
    try:
        principal = request.app.state.keyring.authenticate(header)
    except Unauthorized:
        service.check_token(req, credential.strip())
        return req, "requester"
    if principal.role not in (Role.staff, Role.privacy_manager):
        raise NotStaff(f"The key '{principal.name}' may not read requests.")
    return req, f"staff:{principal.name}"


def _staff_only(request: Request) -> bool:
    """Whether the reader is staff rather than the privacy manager or the requester (their token):
    a closed request's personal part is withheld from staff (dsr invariant 31)."""
    try:
        return request.app.state.keyring.authenticate(request.headers.get("authorization") or "").role is Role.staff
    except Unauthorized:
        return False  # the requester's token (checked by _viewer)


async def _requester_or_staff(request_id: str, request: Request) -> str:
    """The actor of a change by the requester (token) or staff (key), checked before the body is
    read, so that a caller who may not act is told so (401/403) whatever they send."""
    async with _pool(request).acquire() as conn:
        _, actor = await _viewer(request, request_id, conn)
    return actor


@router.post("/requests", status_code=201, response_model=OpenedRequest, tags=["requests"],
             responses={**ERRORS, 429: PROBLEM}, openapi_extra=KEY_OPTIONAL)
async def open_request(body: OpenRequest, request: Request,
                       staff: Principal | None = Depends(_optional_staff)) -> OpenedRequest:
    """File a request: public (the guardian portal), or staff entering one made by phone or paper.

    The reply holds the requester's secret token: the only way to follow the request later.
    """
    if staff is None:
        request.app.state.intake_limiter.check(client_address(request))
    async with _pool(request).acquire() as conn, conn.transaction():
        opened, token = await _service(request).open(conn, body, staff=staff)
    return OpenedRequest(**opened.model_dump(), token=token)


@router.get("/requests", response_model=list[RequestSummary], tags=["requests"], responses=ERRORS)
async def list_requests(
    request: Request,
    status: RequestStatus | None = None,
    overdue: bool | None = None,
    type: RequestType | None = None,
    guardian: bool | None = Query(default=None, description="Only requests for children (by a guardian, or a child's own)"),
    limit: int = Query(default=100, ge=1, le=500),
    offset: int = Query(default=0, ge=0, le=1_000_000_000),
    _: Principal = Depends(staff_only),
) -> list[RequestSummary]:
    """The queue: open requests first, the nearest deadline first."""
    async with _pool(request).acquire() as conn:
        return await _service(request).list(conn, status=status, overdue=overdue, type=type, by_guardian=guardian,
                                            limit=limit, offset=offset)


@router.get("/requests/{request_id}", response_model=RequestOut, tags=["requests"], responses=ERRORS,
            dependencies=TOKEN_OR_STAFF)
async def get_request(request_id: str, request: Request) -> RequestOut:
    """Status, deadline, what is still needed, the audit trail. Staff, or the requester's token."""
    async with _pool(request).acquire() as conn:
        req, _ = await _viewer(request, request_id, conn)
        return await _service(request).view(conn, req, staff_only=_staff_only(request))


@router.get("/requests/{request_id}/result", tags=["requests"], dependencies=TOKEN_OR_STAFF, responses={
    **ERRORS, 503: PROBLEM,
    200: {"content": {"application/json": {}, "application/pdf": {"schema": {"type": "string", "format": "binary"}}}}})
async def get_result(request_id: str, request: Request) -> Any:
    """The answer: each system's work, what the law made the clinic keep and why; for an access
    request, every item held, purposes, retention, recipients, what a law made the clinic provide
    (`provided_by_law`) and the person's consents. With `Accept: application/pdf`, the same as a
    printable report in the request's language (the clinic, the request, what each system found,
    what is kept and why, to whom data was provided, how to object)."""
    service = _service(request)
    async with _pool(request).acquire() as conn:
        req, _ = await _viewer(request, request_id, conn)
        result = await service.result(conn, req, request.app.state.consent_client.history,
                                      staff_only=_staff_only(request))
        words = await service.system_words(conn)
    if "application/pdf" not in request.headers.get("accept", ""):
        return result
    return Response(await service.printable(req, result, words=words), media_type="application/pdf", headers={
        "Cache-Control": "no-store", "Content-Disposition": f'attachment; filename="{req.reference}.pdf"'})


async def _act(request: Request, request_id: str, action: Callable[..., Awaitable[DsrRequest]],
               *args: Any, **kwargs: Any) -> RequestOut:
    service = _service(request)
    async with _pool(request).acquire() as conn:
        async with conn.transaction():
            req = await service.load(conn, request_id, lock=True)
            req = await action(conn, req, *args, **kwargs)
        return await service.view(conn, req)


@router.post("/requests/{request_id}/guardian", response_model=RequestOut, tags=["requests"], responses=ERRORS,
             dependencies=TOKEN_OR_STAFF)
async def join_guardian(request_id: str, body: JoinGuardian, request: Request,
                        actor: str = Depends(_requester_or_staff)) -> RequestOut:
    """A legal representative joins a child's own request (with the request's token, or by staff)."""
    return await _act(request, request_id, _service(request).join_guardian, body, actor=actor)


@router.post("/requests/{request_id}/verification", response_model=RequestOut, tags=["requests"], responses=ERRORS)
async def verify(request_id: str, body: RecordVerification, request: Request,
                 who: Principal = Depends(staff_only)) -> RequestOut:
    """Record how the requester (and a representative's authority) was verified."""
    return await _act(request, request_id, _service(request).verify, body, by=who.name)


@router.post("/requests/{request_id}/decision", response_model=RequestOut, tags=["requests"],
             responses={**ERRORS, 503: PROBLEM})
async def decide(request_id: str, body: Decide, request: Request, who: Principal = Depends(manager_only)) -> RequestOut:
    """Approve (the request fans out to the clinic systems) or refuse on a legal ground of the clinic's
    law for this type of request; after the deadline a refusal needs ``late_reason`` (409 without)."""
    service = _service(request)
    # A rectification's tasks are sealed with the subject's transit key: it is asked of the
    # consent service before the transaction that locks the request (503 while consent is away).
    async with _pool(request).acquire() as conn:
        transit = await service.transit_for_decision(conn, request_id, body)
    return await _act(request, request_id, service.decide, body, by=who.name, transit=transit)


@router.post("/requests/{request_id}/extension", response_model=RequestOut, tags=["requests"], responses=ERRORS)
async def extend(request_id: str, body: Extend, request: Request, who: Principal = Depends(manager_only)) -> RequestOut:
    """Extend the deadline once, on a legal ground of the clinic's law, with a reason the requester is
    told (and how to object). After the deadline, only with ``late_reason`` (409 without)."""
    return await _act(request, request_id, _service(request).extend, body, by=who.name)


@router.post("/requests/{request_id}/answer", response_model=RequestOut, tags=["requests"], responses=ERRORS)
async def answer(request_id: str, body: Answer, request: Request, who: Principal = Depends(manager_only)) -> RequestOut:
    """The privacy manager answers a complaint once it is verified: the request completes, and the
    requester reads the answer (with the remedies outside the clinic) as its result."""
    return await _act(request, request_id, _service(request).answer, body, by=who.name)


@router.get("/legal-grounds", response_model=LegalGrounds, tags=["requests"], responses=ERRORS)
async def legal_grounds(request: Request, _: Principal = Depends(staff_only)) -> LegalGrounds:
    """The grounds the clinic's law gives to refuse a request (by type) or to extend its deadline,
    in ko/en/vi, and that law's remedies outside the clinic."""
    law = request.app.state.settings.clinic_jurisdiction
    grounds = domain.GROUNDS.values()
    return LegalGrounds(
        law=law,
        refusals=[GroundListed(id=g.id, citation=g.citation, texts=dict(g.texts), types=list(g.types))
                  for g in grounds if g.law == law and g.types],
        extensions=[GroundListed(id=g.id, citation=g.citation, texts=dict(g.texts))
                    for g in domain.extension_grounds(law)],
        remedies=[RemedyListed(id=r.id, law=r.law, names=dict(r.names), phone=r.phone, url=r.url)
                  for r in domain.remedies([law])],
    )


@router.post("/requests/{request_id}/lift", response_model=RequestOut, tags=["requests"], responses=ERRORS)
async def lift(request_id: str, request: Request, who: Principal = Depends(staff_only)) -> RequestOut:
    """End a restriction: the processing hold is released and the systems told to resume."""
    return await _act(request, request_id, _service(request).lift, by=who.name)


@router.post("/requests/{request_id}/withdraw", response_model=RequestOut, tags=["requests"], responses=ERRORS,
             dependencies=TOKEN_OR_STAFF)
async def withdraw(request_id: str, request: Request, body: Withdraw = Body(default_factory=Withdraw),
                   actor: str = Depends(_requester_or_staff)) -> RequestOut:
    """The requester (with the token) or staff withdraws an open request."""
    return await _act(request, request_id, _service(request).withdraw, actor=actor, reason=body.reason)


@router.get("/tasks/signing-key", response_model=TaskSigningKeyOut, tags=["systems"], openapi_extra=NO_KEY,
            responses={422: UNKNOWN_QUERY})
async def task_signing_key(request: Request) -> TaskSigningKeyOut:
    """The public key that signs every task on ``dsr.tasks`` (Ed25519, header
    ``dongui-task-signature``): a clinic system carries out a task only when it verifies with it.
    Public: it opens nothing, and a system needs it before it can trust anything on the topic."""
    records = request.app.state.runtime.hub.records
    return TaskSigningKeyOut(key_id=records.tasks.key_id, public_key=encode_key(records.task_public_key))


@router.post("/tasks/{task_id}/key", response_model=TaskKeyOut, tags=["systems"],
             responses={**ERRORS, 410: PROBLEM, 503: PROBLEM})
async def task_key(task_id: str, request: Request, response: Response,
                   who: Principal = Depends(require(Role.system))) -> TaskKeyOut:
    """The key that opens what one of this system's open tasks carries sealed (``data.sealed``,
    JWE ``dir`` + ``A256GCM``): derived for this subject and this system, so it opens nothing sealed
    for another system. Given while the task is open (409 once answered or closed), 410 once the
    subject was erased. Keep it no longer than the task."""
    assert who.system_id is not None, "a system key names its system"
    async with _pool(request).acquire() as conn:  # the consent service is asked: no transaction
        key = await _service(request).task_key(conn, task_id, who.system_id)
    response.headers["Cache-Control"] = "no-store"
    return TaskKeyOut(kid=key.subject_id, k=encode_key(key.key))


@router.post("/tasks/{task_id}/result", tags=["systems"],
             responses={200: {"description": "Recorded (or a duplicate)"}, **ERRORS, 503: PROBLEM})
async def task_result(task_id: str, body: TaskResult, request: Request,
                      who: Principal = Depends(require(Role.system))) -> dict[str, Any]:
    """A clinic system's answer to one of its own tasks (the same data as a dsr.task.result
    event). Send the personal part (exported, retained, note) in ``sealed``, sealed to the subject's
    public key (``POST /v1/subjects/{subject_id}/transit-key`` of the consent service)."""
    if body.task_id != task_id:
        raise TaskIdMismatch("task_id in the body is not the task in the path.")
    if body.system_id != who.system_id:
        raise NotYourTask(f"The key of system '{who.system_id}' answers only that system's tasks, not "
                          f"'{body.system_id}''s.")
    service = _service(request)
    # The sealed part is opened with the subject's private key, asked of the consent service (a
    # 503 if it is away: the system sends the same answer again later) outside any transaction,
    # and stored sealed under the request's own key.
    async with _pool(request).acquire() as conn:
        body = await service.opened(conn, body)
    async with _pool(request).acquire() as conn, conn.transaction():
        recorded = await service.record_result(conn, body)
    return {"task_id": task_id, "recorded": recorded}
