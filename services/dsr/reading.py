"""Reading requests: loading one, the requester's token, and the views staff and requesters see."""

from __future__ import annotations

import hmac
import uuid
from typing import Any

import asyncpg

from services.dsr import domain, errors, store
from services.dsr.context import Context
from services.dsr.model import Request
from services.dsr.schemas import (
    GroundOut,
    KeptByLaw,
    RemedyOut,
    RequestOut,
    RequestSummary,
    TaskOut,
    Transition,
    VerificationOut,
)
from shared.crypto import SubjectCipher
from shared.digests import sha256_hex
from shared.rules import grounds
from shared.rules.retention import REQUEST_RECORD_CLASS

#: What the request's view and its result were given, when the caller has just written all of it.
Known = tuple[list[Transition], list[VerificationOut], list[TaskOut]]


def how_to_object(req: Request) -> str | None:
    """How to object, in the requester's language: to a refusal, or to an extension still running."""
    if req.status == "rejected":
        return grounds.how_to_object("refusal", req.language)
    if req.extension_running:
        return grounds.how_to_object("extension", req.language)
    return None


def ground_out(ground_id: str | None, language: str) -> GroundOut | None:
    """A ground of the list, in ``language`` (None for none, or an id the list no longer has)."""
    ground = domain.GROUNDS.get(ground_id) if ground_id else None
    if ground is None:
        return None
    return GroundOut(id=ground.id, law=ground.law, citation=ground.citation, text=ground.text(language))


def remedies(req: Request) -> list[RemedyOut]:
    """Where else the person may turn, under every law the request was answered under: told with a
    refusal, and with the answer to a complaint."""
    if req.status == "rejected" or (req.type == "complaint" and req.status == "completed"):
        return [RemedyOut(**remedy.view(req.language)) for remedy in domain.remedies(req.laws)]
    return []


async def find(conn: asyncpg.Connection, ref: str) -> Request | None:
    """A request by its id or its reference."""
    try:
        return await store.request(conn, uuid.UUID(ref))
    except ValueError:
        return await store.request_by_reference(conn, ref)


class Reading:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def load(self, conn: asyncpg.Connection, request_id: str, *, lock: bool = False) -> Request:
        try:
            rid = uuid.UUID(request_id)
        except ValueError:
            raise errors.UnknownRequest(f"There is no request '{request_id}'.") from None
        req = await store.request(conn, rid, lock=lock)
        if req is None:
            raise errors.UnknownRequest(f"There is no request '{request_id}'.")
        return req

    @staticmethod
    def check_token(req: Request, token: str) -> None:
        """The requester's token must match; compared in constant time."""
        if not req.token_hash or not hmac.compare_digest(req.token_hash, sha256_hex(token)):
            raise errors.WrongToken("This token does not open this request.")

    async def view(self, conn: asyncpg.Connection, req: Request, *, full: bool = True,
                   cipher: SubjectCipher | None = None, known: Known | None = None,
                   staff_only: bool = False) -> RequestOut:
        """The request as staff and its requester see it; ``cipher``: its key, if the caller has it;
        ``known``: its transitions, verifications and tasks, if the caller has just written all of them;
        ``staff_only``: the reader is staff (not the privacy manager, not the requester), from whom a
        closed request's personal part, kept only by law, is withheld."""
        withheld = staff_only and req.closed_at is not None
        if withheld:
            cipher = None
        else:
            cipher = cipher or await self.ctx.keys.cipher(conn, req.key_ref, create=False)
        personal: dict[str, Any] = (cipher.open(req.personal, context=req.context) if cipher else None) or {}
        objects_to = await store.reference_of(conn, req.objects_to) if req.objects_to else None
        out = RequestOut(
            request_id=str(req.request_id),
            reference=req.reference,
            type=req.type,
            jurisdiction=req.jurisdiction,
            residence=req.residence,
            laws=list(req.laws),
            language=req.language,
            status=req.status,
            subject_id=req.subject_id,
            subject=personal.get("subject"),
            requester={**personal["requester"], "relationship": req.relationship} if personal else None,
            details=personal.get("details"),
            by_guardian=req.by_guardian,
            child_own_request=req.child_own_request,
            waiting_for=req.waiting_for(),
            channel=req.channel,
            received_at=req.received_at,
            acknowledge_by=req.acknowledge_by,
            acknowledged_at=req.acknowledged_at,
            acknowledged_via=req.acknowledged_via,
            due_at=req.due_at,
            original_due_at=req.original_due_at,
            deadline_basis=req.deadline_basis, deadline_said=req.deadline_said,
            extension_ground=ground_out(req.extension_ground, req.language),
            extension_reason=req.extension_reason,
            extension_withdrawn_at=req.extension_withdrawn_at,
            ground=ground_out(req.ground, req.language),
            legal_ground=req.legal_ground,
            how_to_object=how_to_object(req),
            remedies=remedies(req),
            answer=(personal.get("answer") or {}).get("text"),
            objects_to=objects_to,
            closed_at=req.closed_at,
            destroyed_at=req.destroyed_at,
            kept_by_law=self.kept_by_law(req, withheld),
            overdue=req.overdue(self.ctx.clock()),
        )
        if personal.get("guardian"):
            out.requester = {**personal["guardian"], "relationship": "legal_representative"}
        if full and known is not None:
            out.transitions, out.verifications, out.tasks = known
        elif full:
            out.transitions = [Transition(**dict(t)) for t in await store.transitions(conn, req.request_id)]
            out.verifications = [VerificationOut(**dict(v)) for v in await store.verifications(conn, req.request_id)]
            out.tasks = [
                TaskOut(task_id=str(t.task_id), system_id=t.system_id, kind=t.kind, status=t.status,
                        attempts=t.attempts, sent_at=t.sent_at, answer_due=t.answer_due, outcome=t.outcome,
                        answered_at=t.answered_at)
                for t in await store.tasks(conn, req.request_id)
            ]
        return out

    def kept_by_law(self, req: Request, withheld: bool) -> KeptByLaw | None:
        """The mark of a closed request's record, kept only as a complaint record until destroyed."""
        if req.closed_at is None or req.destroyed_at is not None:
            return None
        return KeptByLaw(retention_class=REQUEST_RECORD_CLASS.id, citation=REQUEST_RECORD_CLASS.citation,
                         until=self.ctx.record_end(req.closed_at), withheld=withheld)

    async def list(self, conn: asyncpg.Connection, **filters: Any) -> list[RequestSummary]:
        now = self.ctx.clock()
        return [
            RequestSummary(
                request_id=str(r.request_id), reference=r.reference, type=r.type,
                jurisdiction=r.jurisdiction, status=r.status,
                by_guardian=r.by_guardian, child_own_request=r.child_own_request, waiting_for=r.waiting_for(),
                received_at=r.received_at, due_at=r.due_at, overdue=r.overdue(now),
            )
            for r in await store.list_requests(conn, now=now, **filters)
        ]
