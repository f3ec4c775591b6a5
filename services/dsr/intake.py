"""Intake: a request filed (by the public portal or API, or entered by staff), with its deadlines
computed once, its personal part sealed under its own key, and the requester's secret token."""

from __future__ import annotations

import secrets
import uuid
from typing import Any

import asyncpg

from services.dsr import domain, errors, store
from services.dsr.context import Context
from services.dsr.lifecycle import Lifecycle
from services.dsr.reading import Known, Reading, find
from services.dsr.schemas import OpenRequest, RequestOut, Transition
from shared.auth import Principal
from shared.digests import sha256_hex
from shared.events import RequestReceived
from shared.i18n import Said


class Intake:
    def __init__(self, ctx: Context, lifecycle: Lifecycle, reading: Reading) -> None:
        self.ctx = ctx
        self.lifecycle = lifecycle
        self.reading = reading

    async def open(self, conn: asyncpg.Connection, command: OpenRequest, *,
                   staff: Principal | None) -> tuple[RequestOut, str]:
        """File a request. Returns it as the requester sees it, and their secret token."""
        now = self.ctx.clock()
        today = now.astimezone(self.ctx.zone).date()
        if command.subject.birth_date > today:
            raise errors.BirthDateInFuture("subject.birth_date is in the future.")
        if command.channel not in (None, "portal") and staff is None:
            raise errors.StaffOnlyChannel(
                "Only staff can record a request that arrived by phone, paper, email or in person.")
        # The clinic's law governs (its ages, its deadlines); the person's own law, if another, may
        # only shorten the deadlines or add rights. Whatever law a requester names, never longer.
        law = self.ctx.settings.clinic_jurisdiction
        residence = command.person_law if command.person_law != law else None
        minor = domain.is_minor(law, command.subject.birth_date, today)
        relationship = command.requester.relationship
        child_own = minor and relationship == "self"
        if minor and relationship == "agent":
            raise errors.AgentCannotFileForChild(
                "A request for a child must come from their legal representative (parent or guardian), not an agent.")
        objects_to = None
        if command.type == "objection":
            objects_to = await self._objected(conn, command.details.objects_to or "")

        systems = await store.systems(conn)
        dl = domain.deadlines(domain.applicable_laws(law, residence), now, self.ctx.zone,
                              processor_involved=any(s["processor"] for s in systems), holidays=self.ctx.holidays)
        request_id = uuid.uuid4()
        key_ref = f"request:{request_id}"
        cipher = await self.ctx.keys.new_cipher(conn, key_ref)
        token = secrets.token_urlsafe(32)
        personal = {
            "subject": command.subject.model_dump(mode="json", exclude={"subject_id"}),
            "requester": command.requester.model_dump(mode="json", exclude={"relationship"}),
            "details": command.details.model_dump(mode="json", exclude_none=True),
            # Sealed with the rest (destroyed with it), so that a message can carry the private
            # link; only its SHA-256 opens the request (token_hash).
            "token": token,
        }
        channel = command.channel or "portal"
        actor = f"staff:{staff.name}" if staff else "requester"
        # Filed, then (unless it is a child's own request, which waits for a guardian) on to
        # identity verification: the request is written in its first state with both steps.
        transitions: list[dict[str, Any]] = [dict(at=now, actor=actor, from_status=None, to_status="received",
                                                  reason=Said("audit.received", {"channel": ("channel", channel)}))]
        if not child_own:
            transitions.append(dict(at=now, actor="system", from_status="received", to_status="verifying",
                                    reason=Said("audit.verification_required")))
        row = {
            "request_id": request_id,
            "type": command.type,
            "jurisdiction": law,
            "residence": residence,
            "language": command.language,
            "status": transitions[-1]["to_status"],
            "subject_id": command.subject.subject_id,
            "relationship": relationship,
            "by_guardian": minor and relationship == "legal_representative",
            "child_own_request": child_own,
            "channel": channel,
            "entered_by": staff.name if staff else None,
            "objects_to": objects_to,
            "token_hash": sha256_hex(token),
            "key_ref": key_ref,
            "personal": cipher.seal(personal, context=str(request_id)),
            "received_at": now,
            "acknowledge_by": dl.acknowledge_by,
            "due_at": dl.due_at,
            "original_due_at": dl.due_at,
            "deadline_basis": dl.legal_basis,
            "deadline_said": dl.basis.stored(),
            "updated_at": now,
        }
        req = None
        while req is None:  # a reference already taken writes nothing: draw another
            req = await store.file_request(conn, {**row, "reference": domain.new_reference(now)}, transitions)
        await self.lifecycle.publish(conn, RequestReceived, req, channel=channel, waiting_for=req.waiting_for(),
                                     objects_to=str(objects_to) if objects_to else None,
                                     acknowledge_by=req.acknowledge_by)
        # A request just filed has only the transitions above, no verification and no task yet.
        known: Known = ([Transition(**{**t, "reason": str(t["reason"]), "said": t["reason"].stored()})
                         for t in transitions], [], [])
        return await self.reading.view(conn, req, cipher=cipher, known=known), token

    @staticmethod
    async def _objected(conn: asyncpg.Connection, ref: str) -> uuid.UUID:
        """The request an objection names, which must be a refusal."""
        target = await find(conn, ref)
        if target is None:
            raise errors.UnknownObjectedRequest(f"There is no request '{ref}' to object to.")
        target.check_objectable()
        return target.request_id
