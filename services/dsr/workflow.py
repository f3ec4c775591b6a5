"""The workflow after intake: a guardian joining, verification, the decision and carrying it out,
the one extension, withdrawal, and lifting a restriction.

Each step takes the request locked by the caller's transaction. Nothing changes any data before
verification: tasks and commands are sent only by :meth:`Workflow.carry_out`, reached only from an
approval, which needs ``in_review``, which only a recorded verification reaches.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

from services.dsr import domain, errors, store
from services.dsr.context import SOURCE, Context
from services.dsr.lifecycle import Lifecycle
from services.dsr.model import Request, TransitKey
from services.dsr.reading import Reading
from services.dsr.schemas import Answer, Decide, Extend, JoinGuardian, RecordVerification
from services.dsr.tasks import Tasks
from shared import outbox
from shared.events import (
    RequestApproved,
    RequestCompleted,
    RequestExtended,
    RequestRejected,
    RequestVerified,
    RequestWithdrawn,
    SubjectConsentWithdrawalRequested,
    SubjectErasureApproved,
    SubjectHoldPlaced,
)
from shared.i18n import CITATION, Said

#: How the request reached the clinic, as the consent ledger names collection methods.
CHANNEL_METHOD = {"portal": "web", "phone": "phone", "paper": "paper", "email": "email", "in_person": "paper"}


class Workflow:
    def __init__(self, ctx: Context, lifecycle: Lifecycle, reading: Reading, tasks: Tasks) -> None:
        self.ctx = ctx
        self.lifecycle = lifecycle
        self.reading = reading
        self.tasks = tasks

    async def join_guardian(self, conn: asyncpg.Connection, req: Request, body: JoinGuardian, *,
                            actor: str) -> Request:
        """A legal representative joins a child's own request; verification can then begin."""
        req.check_guardian_may_join()
        cipher = await self.ctx.cipher(conn, req)
        personal = cipher.open(req.personal, context=req.context) or {}
        personal["guardian"] = body.model_dump(mode="json")
        req = await store.update_request(conn, req.request_id, guardian_joined=True,
                                         personal=cipher.seal(personal, context=req.context))
        return await self.lifecycle.move(conn, req, "verifying", actor=actor,
                                         reason=Said("audit.guardian_joined", values={"detail": body.relationship_detail}))

    async def verify(self, conn: asyncpg.Connection, req: Request, body: RecordVerification, *, by: str) -> Request:
        """Record how the requester was verified. Nothing changes any data before this."""
        subject_id = req.check_verification(method=body.method, representative_checked=body.representative_checked,
                                            subject_id=body.subject_id)
        await store.add_verification(conn, req.request_id, method=body.method, verified_by=by,
                                     evidence_ref=body.evidence_ref, representative_checked=body.representative_checked,
                                     at=self.ctx.clock())
        req = await self.lifecycle.move(conn, req, "in_review", actor=f"staff:{by}",
                                        reason=Said("audit.verified_note" if body.note else "audit.verified",
                                                     {"method": ("method", body.method)}, {"note": body.note}),
                                        subject_id=subject_id)
        if req.type == "rectification":  # the data is not used while its correction is pending
            await self.hold(conn, req)
        if req.type in domain.TAKES_EFFECT_ON_VERIFICATION:
            req = await self.take_effect(conn, req)
        # Published after: a withdrawal already carried out is no decision due (the notifier reads
        # the status).
        await self.lifecycle.publish(conn, RequestVerified, req, method=body.method)
        return req

    async def take_effect(self, conn: asyncpg.Connection, req: Request) -> Request:
        """A withdrawal (of consent, or of membership) is the requester's own act: once they are
        verified it is carried out at once, with no decision (PIPA 37; the seed policies' section 8:
        withdrawn "directly on-line" as easily as consent was given). The requester is the actor."""
        req = await self.lifecycle.move(conn, req, "approved", actor="requester",
                                        reason=Said("audit.takes_effect", {"citation": (CITATION, "PIPA Art. 37")}))
        return await self.carry_out(conn, req, None)

    async def hold(self, conn: asyncpg.Connection, req: Request) -> None:
        """Hold the subject's data (no use, no provision) for this request, unless it already is:
        a rectification from its verification to its end, a restriction from its approval to its
        lift. The consent service answers ``reason: "hold"`` meanwhile."""
        assert req.subject_id is not None, "a hold needs the subject identified at verification"
        if await store.has_active_hold(conn, req.request_id):
            return
        now = self.ctx.clock()
        hold_id = uuid.uuid4()
        await store.place_hold(conn, hold_id=hold_id, request_id=req.request_id, subject_id=req.subject_id,
                               reason=req.type, at=now)
        await outbox.enqueue(conn, SubjectHoldPlaced(subject_id=req.subject_id, hold_id=str(hold_id),
                                                     request_id=str(req.request_id), reason=req.type,
                                                     placed_at=now), source=SOURCE)

    async def transit_for_decision(self, conn: asyncpg.Connection, request_id: str, body: Decide) -> TransitKey | None:
        """The subject's transit key an approval will seal the request's tasks with, asked of the
        consent service before the transaction that locks the request (503 while it is away, 409
        if the subject was erased); None when the decision needs none. ``conn`` holds no transaction."""
        req = await self.reading.load(conn, request_id)
        if body.decision != "approve" or req.status != "in_review" or req.subject_id is None:
            return None  # no key needed, or the decision is refused under the lock
        if not self.tasks.needs_transit_key(await self.tasks.plan(conn, req)):
            return None
        return await self.ctx.sending_key(req.subject_id)

    async def decide(self, conn: asyncpg.Connection, req: Request, body: Decide, *, by: str,
                     transit: TransitKey | None = None) -> Request:
        """Approve (and carry out) or reject the request; ``transit``: from :meth:`transit_for_decision`.

        A refusal names a ground the clinic's law gives for this type of request, and after the
        deadline the reason it is late (kept in the audit trail)."""
        req.check_decidable()
        actor = f"privacy_manager:{by}"
        now = self.ctx.clock()
        if body.decision == "reject":
            assert body.ground is not None, "Decide requires a ground to reject"
            req.check_ground(body.ground, "refusal")
            req.check_in_time(now, body.late_reason, "a refusal")
            ground = domain.GROUNDS[body.ground]
            stated = f"{ground.citation}: {ground.text('en')}" + (f" ({body.legal_ground})" if body.legal_ground else "")
            refused = Said("audit.refused_detail" if body.legal_ground else "audit.refused",
                           {"ground": ("ground", body.ground), "citation": (CITATION, ground.citation)},
                           {"detail": body.legal_ground})
            await self.lifecycle.release_holds(conn, req)  # a correction refused is no longer pending
            req = await self.lifecycle.move(conn, req, "rejected", actor=actor,
                                            reason=_with_lateness(refused, req.due_at,
                                                                  now, body.late_reason),
                                            ground=body.ground, legal_ground=body.legal_ground, decided_by=by,
                                            decided_at=now)
            await self.lifecycle.publish(conn, RequestRejected, req, decided_by=by, ground=body.ground,
                                         legal_ground=stated,
                                         remedies=[r.id for r in domain.remedies(req.laws)])
            return req
        req = await self.lifecycle.move(conn, req, "approved", actor=actor, reason=body.note or Said("audit.approved"),
                                        decided_by=by, decided_at=now)
        await self.lifecycle.publish(conn, RequestApproved, req, decided_by=by)
        return await self.carry_out(conn, req, transit)

    async def carry_out(self, conn: asyncpg.Connection, req: Request, transit: TransitKey | None) -> Request:
        """Fan an approved request out to the clinic systems and the consent service."""
        now = self.ctx.clock()
        subject_id = req.subject_id
        assert subject_id is not None, "an approved request's subject was identified at verification"
        kind = req.type
        personal = (await self.ctx.cipher(conn, req)).open(req.personal, context=req.context) or {}
        details = personal.get("details", {})
        if kind == "erasure":
            await outbox.enqueue(conn, SubjectErasureApproved(subject_id=subject_id, request_id=str(req.request_id),
                                                              approved_at=now), source=SOURCE)
        if kind in ("consent_withdrawal", "membership_withdrawal"):
            purposes = details.get("purposes") if kind == "consent_withdrawal" else list(domain.MEMBERSHIP_PURPOSES)
            await outbox.enqueue(
                conn,
                SubjectConsentWithdrawalRequested(
                    subject_id=subject_id, request_id=str(req.request_id), purposes=purposes,
                    actor_role=req.actor_role, method=CHANNEL_METHOD[req.channel], requested_at=req.received_at,
                ),
                source=SOURCE,
            )
        if kind in ("rectification", "restriction"):  # a rectification's since verification, if verified since
            await self.hold(conn, req)
        if kind == "objection" and req.objects_to is not None:
            target = await store.request(conn, req.objects_to, lock=True)
            if target is not None and target.status == "rejected":
                target = await self.lifecycle.move(conn, target, "in_review", actor=f"objection:{req.reference}",
                                                   reason=Said("audit.objection_upheld", values={"reference": req.reference}))
                if target.type == "rectification":  # pending again: held again
                    await self.hold(conn, target)
            elif target is not None and target.extension_running:
                await self.withdraw_extension(conn, target, objection=req.reference)
        planned = await self.tasks.plan(conn, req)
        # Corrections travel sealed with the subject's transit key, fetched before this transaction.
        if self.tasks.needs_transit_key(planned) and (transit is None or transit.subject_id != subject_id):
            raise errors.ChangedMeanwhile("The request or the clinic systems changed while the decision was "
                                          "being prepared; send the decision again.")
        if not planned:
            if kind == "restriction":  # nothing to tell, but the hold stays until it is lifted
                return await self.lifecycle.move(conn, req, "in_progress", actor="system",
                                                 reason=Said("audit.nothing_to_restrict"))
            return await self.lifecycle.finish(conn, req)
        await self.tasks.send_all(conn, req, planned, details=details, transit=transit)
        return await self.lifecycle.move(conn, req, "in_progress", actor="system",
                                         reason=Said("audit.tasks_sent", values={"n": len(planned)}))

    async def extend(self, conn: asyncpg.Connection, req: Request, body: Extend, *, by: str) -> Request:
        """Extend the deadline once, on a ground of the clinic's law, by the shortest extension of the
        laws the request is answered under; after the deadline, only with the reason it is late."""
        req.check_extendable()
        req.check_ground(body.ground, "extension")
        now = self.ctx.clock()
        req.check_in_time(now, body.late_reason, "an extension")
        new_due = domain.extend(req.laws, req.due_at)
        previous = req.due_at
        ground = domain.GROUNDS[body.ground]
        req = await store.update_request(conn, req.request_id, due_at=new_due, extension_ground=body.ground,
                                         extension_reason=body.reason, extended_at=now, updated_at=now)
        await store.add_transition(conn, req.request_id, at=now, actor=f"privacy_manager:{by}",
                                   from_status=req.status, to_status=req.status,
                                   reason=_with_lateness(Said("audit.extended",
                                                              {"ground": ("ground", body.ground),
                                                               "citation": (CITATION, ground.citation)},
                                                              {"due": new_due.isoformat(), "reason": body.reason}),
                                                         previous, now, body.late_reason))
        await self.lifecycle.publish(conn, RequestExtended, req, previous_due_at=previous, reason=body.reason,
                                     ground=body.ground)
        return req

    async def withdraw_extension(self, conn: asyncpg.Connection, req: Request, *, objection: str) -> Request:
        """An upheld objection to an extension: the original deadline applies again (the one
        extension stays used)."""
        now = self.ctx.clock()
        req = await store.update_request(conn, req.request_id, due_at=req.original_due_at,
                                         extension_withdrawn_at=now, updated_at=now)
        await store.add_transition(conn, req.request_id, at=now, actor=f"objection:{objection}",
                                   from_status=req.status, to_status=req.status,
                                   reason=Said("audit.extension_withdrawn",
                                               values={"reference": objection, "due": req.original_due_at.isoformat()}))
        return req

    async def answer(self, conn: asyncpg.Connection, req: Request, body: Answer, *, by: str) -> Request:
        """The privacy manager answers a complaint (PIPA 31): the answer is kept sealed with the
        request, the requester reads it as the result, and the audit trail records who and when."""
        req.check_answerable()
        now = self.ctx.clock()
        cipher = await self.ctx.cipher(conn, req)
        personal = cipher.open(req.personal, context=req.context) or {}
        personal["answer"] = {"text": body.answer, "by": by, "at": now.isoformat()}
        await store.update_request(conn, req.request_id, personal=cipher.seal(personal, context=req.context))
        reason = (Said("audit.complaint_answered_late", values={"due": req.due_at.isoformat()}) if req.late(now)
                  else Said("audit.complaint_answered"))
        req = await self.lifecycle.move(conn, req, "completed", actor=f"privacy_manager:{by}", reason=reason,
                                        decided_by=by, decided_at=now)
        await self.lifecycle.publish(conn, RequestCompleted, req, outcome="completed")
        return req

    async def withdraw(self, conn: asyncpg.Connection, req: Request, *, actor: str, reason: str | None) -> Request:
        req.check_withdrawable()
        await self.lifecycle.release_holds(conn, req)
        req = await self.lifecycle.move(conn, req, "withdrawn", actor=actor,
                                        reason=reason or Said("audit.withdrawn"))
        await self.lifecycle.publish(conn, RequestWithdrawn, req)
        return req

    async def lift(self, conn: asyncpg.Connection, req: Request, *, by: str) -> Request:
        """End a restriction: the hold is released and the systems told they may resume."""
        tasks = await store.tasks(conn, req.request_id)
        req.check_liftable(tasks)
        await self.lifecycle.release_holds(conn, req)
        await store.add_transition(conn, req.request_id, at=self.ctx.clock(), actor=f"staff:{by}",
                                   from_status=req.status, to_status=req.status, reason=Said("audit.lifted"))
        # A system retired since gets no lift task: nothing of it is in service to resume.
        in_service = {s["system_id"] for s in await store.systems(conn) if s["retired_at"] is None}
        systems = sorted({t.system_id for t in tasks if t.kind == "restrict"} & in_service)
        for system_id in systems:
            await self.tasks.send(conn, req, system_id, "lift", details={})
        if not systems:
            return await self.lifecycle.finish(conn, req, lifting=True)
        return req


def _with_lateness(reason: Said, due_at: datetime, now: datetime, late_reason: str | None) -> Said:
    """The audit trail's reason, with why it is late when the deadline ``due_at`` had passed."""
    if now <= due_at:
        return reason
    return Said("audit.late", values={"reason": reason, "due": due_at.isoformat(), "late_reason": late_reason})
