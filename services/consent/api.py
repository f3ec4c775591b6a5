"""HTTP endpoints of the consent service: thin, each one transaction around the service's rules."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import TypeAdapter, ValidationError

from services.consent.errors import NoConsentHistoryRight, NotYourSource, OnlyTheRequestService, PurposeNotGranted
from services.consent.schemas import (
    ChainVerification,
    ConsentCloudEvent,
    ConsentHistory,
    ConsentRecordOut,
    PermissionOut,
    PolicyVersion,
    PolicyVersions,
    PublishPolicy,
    PurposeOut,
    SubjectConsents,
    TransitKeyOut,
    TransitPrivateKeyOut,
)
from services.consent.service import ConsentService
from shared import bodies, sealing
from shared.auth import Principal, require
from shared.dates import Timestamp
from shared.events import SUBJECT_ID_MAX_LENGTH, SUBJECT_ID_PATTERN, SealedConsentEventData
from shared.observability import event_id_var
from shared.rules.retention import RETENTION_CLASSES
from shared.settings import Role

router = APIRouter(prefix="/v1")

SubjectPath = Annotated[str, Path(min_length=1, max_length=SUBJECT_ID_MAX_LENGTH, pattern=SUBJECT_ID_PATTERN)]
PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}
ERRORS: dict[int | str, dict[str, Any]] = {401: PROBLEM, 403: PROBLEM, 422: PROBLEM}

reader = require(Role.system, Role.staff, Role.privacy_manager)
people = require(Role.staff, Role.privacy_manager)


def opens_sealed(principal: Principal = Depends(require(Role.staff))) -> Principal:
    """The request service's own key (configured with ``opens_sealed``): no person, no clinic system."""
    if not principal.opens_sealed:
        raise OnlyTheRequestService("Only the request service's key (configured with opens_sealed) gets a "
                                    "subject's private transit key; seal with the public one (.../transit-key).")
    return principal


def _service(request: Request) -> ConsentService:
    return request.app.state.consent


def _pool(request: Request):
    return request.app.state.runtime.pool


# Routes are matched in the order they are declared: the hottest one (clinic systems ask on every
# use of a person's data) comes first.
#
# Its parameters are read here rather than by FastAPI, which spends a pydantic validation per
# path parameter per call, and on an optional query parameter that is absent (nearly every call)
# about as many instructions as the rest of the check's own work (callgrind: 1,386,000 against
# 1,313,000 per check, hello world 1,284,000). The OpenAPI document still describes them
# (``openapi_extra``; ``shared.problems.single_valued_query`` refuses a repeated or unknown query
# parameter from it as from FastAPI's own); a valid id costs one regular-expression match, and an
# invalid id or ``send_at`` gets FastAPI's own error (``_subject_id``, ``_send_at``), so the answer
# is the same 422 either way.
_SUBJECT_ID = re.compile(SUBJECT_ID_PATTERN)
_SUBJECT_ID_RULES = TypeAdapter(SubjectPath)
_SEND_AT_RULES = TypeAdapter(Timestamp)
_SEND_AT_DESCRIPTION = ("For a marketing message: when it will be sent. Between 21:00 and 08:00 (the "
                        "clinic's time) it also needs the night-time consent (reason night_time).")
_PERMISSION_PATH = {"parameters": [
    {"name": "subject_id", "in": "path", "required": True,
     "schema": {**_SUBJECT_ID_RULES.json_schema(), "title": "Subject Id"}},
    {"name": "purpose", "in": "path", "required": True, "description": "A purpose of the catalogue",
     "schema": {"type": "string", "title": "Purpose"}},
    {"name": "send_at", "in": "query", "required": False, "description": _SEND_AT_DESCRIPTION,
     "schema": {"anyOf": [_SEND_AT_RULES.json_schema(), {"type": "null"}],
                "description": _SEND_AT_DESCRIPTION, "title": "Send At"}},
]}


def _subject_id(request: Request) -> str:
    subject_id = request.path_params["subject_id"]
    if len(subject_id) > SUBJECT_ID_MAX_LENGTH or _SUBJECT_ID.fullmatch(subject_id) is None:
        _validated(_SUBJECT_ID_RULES, subject_id, ("path", "subject_id"))
    return subject_id


def _send_at(request: Request) -> datetime | None:
    if not request.scope["query_string"]:
        return None  # the usual check: no query at all
    value = request.query_params.get("send_at")
    if value is None:
        return None
    return _validated(_SEND_AT_RULES, value, ("query", "send_at"))


def _check_purpose(who: Principal, purpose: str) -> None:
    if who.grant is None or purpose not in who.grant.purposes:
        raise PurposeNotGranted(
            f"The system '{who.system_id}' is not registered for the purpose '{purpose}'; the privacy "
            f"manager registers the purposes each system may check (POST /v1/systems on the request service)."
        )


def _may_read_personal(who: Principal) -> bool:
    """Staff and the privacy manager read personal fields; a clinic system only with the right."""
    return who.role is not Role.system or (who.grant is not None and "consent_history" in who.grant.rights)


async def history_reader(who: Principal = Depends(reader)) -> Principal:
    """Staff, the privacy manager, or a clinic system granted the consent_history right."""
    if not _may_read_personal(who):
        raise NoConsentHistoryRight(
            f"A subject's consent history and receipts are for staff; the system '{who.system_id}' was not "
            f"granted the consent_history right."
        )
    return who


def _validated(rules: TypeAdapter, value: Any, loc: tuple[str, str]) -> Any:
    """``value`` validated by ``rules``, or FastAPI's own 422 for the parameter at ``loc``."""
    try:
        return rules.validate_python(value)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**error, "loc": loc} for error in exc.errors(include_url=False)]
        ) from None


@router.get(
    "/subjects/{subject_id}/permissions/{purpose}", response_model=PermissionOut, tags=["consent"],
    responses={**ERRORS, 404: PROBLEM}, openapi_extra=_PERMISSION_PATH,
)
async def check_permission(
    request: Request,
    who: Principal = Depends(reader),
) -> Response:
    """May this subject's data be used for this purpose now? One indexed read; call it on every use.

    A clinic system asks only for the purposes it is registered for (403 otherwise)."""
    subject_id = _subject_id(request)
    send_at = _send_at(request)
    purpose = request.path_params["purpose"]
    if who.role is Role.system and purpose in _service(request).policies.purposes:  # unknown: the 404 below
        _check_purpose(who, purpose)
    # One-statement reads outside a transaction: through the runtime's read lane, not the pool.
    verdict = await _service(request).permissions.permission(
        request.app.state.runtime.reads, subject_id, purpose, send_at=send_at
    )
    # Serialised once, by the model itself, instead of validated again against response_model
    # (which still documents it).
    return Response(verdict.model_dump_json(), media_type="application/json")


@router.get("/purposes", response_model=list[PurposeOut], tags=["purposes"], responses=ERRORS)
async def list_purposes(request: Request, _: Principal = Depends(reader)) -> list[PurposeOut]:
    """The purpose catalogue: legal basis (W3C DPV), required or optional, retention."""
    return [
        PurposeOut(
            **p.model_dump(),
            needs_consent=p.needs_consent,
            retention=RETENTION_CLASSES[p.retention_class].citation,
        )
        for p in _service(request).policies.purposes.values()
    ]


@router.post(
    "/policies", status_code=201, response_model=PolicyVersion, tags=["policies"],
    responses={**ERRORS, 409: PROBLEM},
)
async def publish_policy(
    body: PublishPolicy, request: Request, who: Principal = Depends(require(Role.privacy_manager))
) -> PolicyVersion:
    """Publish a version of a privacy notice in ko, en and vi. Emits ``policy.published``.

    A version after the first must take effect at least 7 days after it is published.
    """
    async with _pool(request).acquire() as conn, conn.transaction():
        return await _service(request).policies.publish(conn, body, by=who.name)


@router.get("/policies/{policy_id}", response_model=PolicyVersions, tags=["policies"], responses={**ERRORS, 404: PROBLEM})
async def policy_versions(policy_id: str, request: Request, _: Principal = Depends(reader)) -> PolicyVersions:
    """Every published version of a policy, oldest first, with the one in effect marked."""
    async with _pool(request).acquire() as conn:
        return PolicyVersions(policy_id=policy_id, versions=await _service(request).policies.versions(conn, policy_id))


@router.post(
    "/consent-events",
    status_code=201,
    response_model=ConsentRecordOut,
    tags=["consent"],
    responses={200: {"description": "A replay of an event already recorded: the original record",
                     "model": ConsentRecordOut},
               **ERRORS, 409: PROBLEM},
    openapi_extra=bodies.documented(ConsentCloudEvent),
)
async def record_consent_event(
    request: Request, response: Response, who: Principal = Depends(require(Role.system))
) -> ConsentRecordOut:
    """Record one consent event (the same CloudEvent JSON as on ``consent.inbound``).

    Idempotent by CloudEvent ``id``: a replay answers 200 with the original record; the same id
    with different content is a 409.
    """
    # The body is read once, from its bytes, envelope and data together (``shared.bodies``): the
    # recording takes the validated data as it is, and compares replays by the same digest as for
    # a Kafka message.
    event = await bodies.read_json(request, ConsentCloudEvent)
    if who.grant is None or event.source != who.grant.source:
        raise NotYourSource(
            f"The system '{who.system_id}' publishes as the source '{who.grant.source if who.grant else None}', "
            f"not '{event.source}'."
        )
    if isinstance(event.data, SealedConsentEventData):  # opened by the recording, from the plain JSON
        event = event.model_copy(update={"data": event.data.model_dump()})
    event_id_var.set(event.id)
    # Committed with the other calls that arrived meanwhile (services/consent/grouping.py).
    record, created = await request.app.state.consent_http.record(event)
    if not created:
        response.status_code = 200
    return record


@router.get("/subjects/{subject_id}/consents", response_model=SubjectConsents, tags=["consent"], responses=ERRORS)
async def current_consents(subject_id: SubjectPath, request: Request, who: Principal = Depends(reader)) -> SubjectConsents:
    """The current decision per purpose, the record that decided it, and any active hold. A clinic
    system without the consent_history right sees the records without their personal fields."""
    async with _pool(request).acquire() as conn:
        return await _service(request).permissions.current(conn, subject_id, personal=_may_read_personal(who))


@router.get("/subjects/{subject_id}/consents/history", response_model=ConsentHistory, tags=["consent"], responses=ERRORS)
async def consent_history(subject_id: SubjectPath, request: Request,
                          _: Principal = Depends(history_reader)) -> ConsentHistory:
    """Every recorded event of the subject, oldest first (staff, or a system granted consent_history)."""
    async with _pool(request).acquire() as conn:
        return ConsentHistory(subject_id=subject_id, records=await _service(request).ledger.history(conn, subject_id))


@router.get(
    "/subjects/{subject_id}/consents/verify", response_model=ChainVerification, tags=["consent"],
    responses={**ERRORS, 404: PROBLEM},
)
async def verify_chain(subject_id: SubjectPath, request: Request, _: Principal = Depends(people)) -> ChainVerification:
    """Recompute the subject's hash chain: any changed, removed or reordered record is reported."""
    async with _pool(request).acquire() as conn:
        return await _service(request).ledger.verify_chain(conn, subject_id)


@router.post(
    "/subjects/{subject_id}/transit-key", response_model=TransitKeyOut, tags=["consent"],
    responses={**ERRORS, 410: PROBLEM},
)
async def transit_key(
    subject_id: SubjectPath, request: Request, response: Response,
    _: Principal = Depends(require(Role.system, Role.staff)),
) -> TransitKeyOut:
    """The subject's public key (an X25519 JWK), issued on first request: seal personal fields to it
    before putting them on Kafka (``data.sealed``, JWE ``ECDH-ES`` + ``A256GCM``, see the README).
    It seals only; what is sealed to it only the services can open. 410 once the subject was
    erased: the key is destroyed, and with it everything ever sealed for them."""
    async with _pool(request).acquire() as conn, conn.transaction():
        root = await _service(request).transit.issue(conn, subject_id)
    response.headers["Cache-Control"] = "no-store"
    return TransitKeyOut(**sealing.public_jwk(root, kid=subject_id))


@router.post(
    "/subjects/{subject_id}/transit-key/private", response_model=TransitPrivateKeyOut, tags=["consent"],
    responses={**ERRORS, 410: PROBLEM},
)
async def transit_private_key(
    subject_id: SubjectPath, request: Request, response: Response,
    _: Principal = Depends(opens_sealed),
) -> TransitPrivateKeyOut:
    """The subject's private key, issued on first request: for the request service alone (a key
    configured with ``opens_sealed``), which opens the systems' sealed answers with it and derives
    from it the task key that seals a task for one system. 410 once the subject was erased."""
    async with _pool(request).acquire() as conn, conn.transaction():
        root = await _service(request).transit.issue(conn, subject_id)
    response.headers["Cache-Control"] = "no-store"
    return TransitPrivateKeyOut(**sealing.private_jwk(root, kid=subject_id))


@router.get("/consent-records/{record_id}/receipt", tags=["consent"], responses={**ERRORS, 404: PROBLEM})
async def receipt(record_id: str, request: Request, _: Principal = Depends(history_reader)) -> dict[str, Any]:
    """A consent receipt for one record, with the ISO/IEC TS 27560 fields (staff, or a system
    granted consent_history)."""
    async with _pool(request).acquire() as conn:
        return await _service(request).ledger.receipt(conn, record_id)

