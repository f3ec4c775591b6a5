"""The request service's rules, applied on the caller's connection (never committing itself).

Every state change goes through :meth:`RequestService._move`, which checks the workflow, writes
the audit trail and stamps closing times; every event leaves through the outbox in the same
transaction as the change it reports.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
from pydantic import ValidationError

from services.dsr import domain, store
from services.dsr.consent_client import TransitKeyGone
from services.dsr.schemas import (
    Decide,
    Extend,
    JoinGuardian,
    OpenRequest,
    RecordVerification,
    RegisterSystem,
    RequestOut,
    RequestSummary,
    SystemOut,
    TaskOut,
    Transition,
    VerificationOut,
)
from services.dsr.settings import DsrSettings
from shared import outbox, sealing
from shared.auth import Principal
from shared.cloudevents import new_event
from shared.crypto import SubjectCipher, SubjectKeys
from shared.events import (
    EraseTask,
    ExportTask,
    LiftTask,
    RectifyTask,
    RequestApproved,
    RequestCompleted,
    RequestEvent,
    RequestExtended,
    RequestReceived,
    RequestRejected,
    RequestVerified,
    RequestWithdrawn,
    RestrictTask,
    SubjectConsentWithdrawalRequested,
    SubjectErasureApproved,
    SubjectHoldPlaced,
    SubjectHoldReleased,
    TaskData,
    TaskResult,
)
from shared.problems import Conflict, Forbidden, InvalidInput, NotFound, Unavailable
from shared.retention import RETENTION_CLASSES

log = logging.getLogger(__name__)

SOURCE = "dongui/dsr"
TASK_MODELS: dict[str, type[TaskData]] = {
    "export": ExportTask, "erase": EraseTask, "rectify": RectifyTask, "restrict": RestrictTask, "lift": LiftTask,
}
#: How the request reached the clinic, as the consent ledger names collection methods.
CHANNEL_METHOD = {"portal": "web", "phone": "phone", "paper": "paper", "email": "email", "in_person": "paper"}

HOW_TO_OBJECT = {
    "ko": "이 결정에 이의가 있으시면 같은 창구로 이의신청(objection)을 하실 수 있습니다. 개인정보보호법 제38조 제5항.",
    "en": "If you disagree with this decision you may object: file a request of type 'objection' naming this "
          "reference, through the same channel (PIPA Art. 38(5)).",
    "vi": "Nếu không đồng ý với quyết định này, bạn có thể phản đối: gửi yêu cầu loại 'objection' ghi số tham chiếu "
          "này, qua cùng kênh (PIPA Điều 38(5)).",
}


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


#: Looks up a subject's transit key at the consent service (raises TransitKeyGone or Unavailable).
TransitKeyLookup = Callable[[str], Awaitable[bytes]]


def open_result(result: TaskResult, key: bytes | None) -> TaskResult:
    """A system's answer with its ``sealed`` part opened (``key``: the subject's transit key, or
    None when it was destroyed). Raises :class:`InvalidInput` for a sealed part that cannot be used.

    With the key destroyed (the subject was erased) the personal part can never be read: the
    answer keeps its clear fields (the outcome), and its note says what happened.
    """
    if result.sealed is None:
        return result
    given = result.model_dump(mode="json", exclude_unset=True)
    token = given.pop("sealed")

    def refuse(message: str) -> InvalidInput:
        return InvalidInput(message, errors=[{"field": "sealed", "message": message}])

    if key is None:
        note = ("The personal part of this answer was sealed with the subject's transit key, which was "
                "destroyed when their erasure was approved: it cannot be read.")
        return TaskResult.model_validate({**given, "note": note})
    try:
        sealing.check_kid(token, result.subject_id, field="sealed", subject_field="subject_id")
        fields = sealing.open_token(token, key, field="sealed")
    except sealing.SealedDataError as exc:
        raise refuse(str(exc)) from None
    unknown = sorted(set(fields) - TaskResult.SEALABLE)
    if unknown:
        raise refuse(f"sealed may hold only {', '.join(sorted(TaskResult.SEALABLE))}, not {', '.join(unknown)}.")
    clash = sorted(set(fields) & set(given))
    if clash:
        raise refuse(f"sealed repeats fields that are also given in the clear: {', '.join(clash)}.")
    try:
        return TaskResult.model_validate({**given, **fields})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(map(str, first["loc"]))
        raise InvalidInput(f"sealed, once opened: {where}: {first['msg']}",
                           errors=[{"field": f"sealed.{where}", "message": first["msg"]}]) from None


class RequestService:
    def __init__(self, settings: DsrSettings, keys: SubjectKeys,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC), *,
                 transit_key: TransitKeyLookup | None = None) -> None:
        self.settings = settings
        self.keys = keys
        self.clock = clock
        self.transit_key = transit_key
        self.zone = ZoneInfo(settings.timezone)
        self.holidays = frozenset(settings.vn_holidays)

    # --- intake ---------------------------------------------------------------------------------

    async def open(self, conn: asyncpg.Connection, command: OpenRequest, *, staff: Principal | None) -> tuple[RequestOut, str]:
        """File a request. Returns it as the requester sees it, and their secret token."""
        now = self.clock()
        today = now.astimezone(self.zone).date()
        if command.subject.birth_date > today:
            raise InvalidInput("subject.birth_date is in the future.",
                               errors=[{"field": "subject.birth_date", "message": "in the future"}])
        if command.channel not in (None, "portal") and staff is None:
            raise InvalidInput("Only staff can record a request that arrived by phone, paper, email or in person.",
                               errors=[{"field": "channel", "message": "staff only"}])
        minor = domain.is_minor(command.jurisdiction, command.subject.birth_date, today)
        relationship = command.requester.relationship
        child_own = minor and relationship == "self"
        if minor and relationship == "agent":
            raise InvalidInput(
                "A request for a child must come from their legal representative (parent or guardian), not an agent.",
                errors=[{"field": "requester.relationship", "message": "a legal representative must file for a child"}],
            )
        objects_to = None
        if command.type == "objection":
            objects_to = await self._objected(conn, command.details.objects_to or "")

        systems = await store.systems(conn)
        dl = domain.deadlines(command.jurisdiction, now, self.zone,
                              processor_involved=any(s["processor"] for s in systems), holidays=self.holidays)
        request_id = uuid.uuid4()
        key_ref = f"request:{request_id}"
        cipher = await self.keys.new_cipher(conn, key_ref)
        token = secrets.token_urlsafe(32)
        personal = {
            "subject": command.subject.model_dump(mode="json", exclude={"subject_id"}),
            "requester": command.requester.model_dump(mode="json", exclude={"relationship"}),
            "details": command.details.model_dump(mode="json", exclude_none=True),
        }
        channel = command.channel or "portal"
        actor = f"staff:{staff.name}" if staff else "requester"
        # Filed, then (unless it is a child's own request, which waits for a guardian) on to
        # identity verification: the request is written in its first state with both steps.
        transitions = [dict(at=now, actor=actor, from_status=None, to_status="received",
                            reason=f"received by {channel}")]
        if not child_own:
            transitions.append(dict(at=now, actor="system", from_status="received", to_status="verifying",
                                    reason="identity verification required"))
        row = {
            "request_id": request_id,
            "type": command.type,
            "jurisdiction": command.jurisdiction,
            "language": command.language,
            "status": transitions[-1]["to_status"],
            "subject_id": command.subject.subject_id,
            "relationship": relationship,
            "by_guardian": minor and relationship == "legal_representative",
            "child_own_request": child_own,
            "channel": channel,
            "entered_by": staff.name if staff else None,
            "objects_to": objects_to,
            "token_hash": token_hash(token),
            "key_ref": key_ref,
            "personal": cipher.seal(personal, context=str(request_id)),
            "received_at": now,
            "acknowledge_by": dl.acknowledge_by,
            "due_at": dl.due_at,
            "original_due_at": dl.due_at,
            "deadline_basis": dl.legal_basis,
            "updated_at": now,
        }
        req = None
        while req is None:  # a reference already taken writes nothing: draw another
            req = await store.file_request(conn, {**row, "reference": domain.new_reference(now)}, transitions)
        await self._publish(conn, RequestReceived, req, channel=channel,
                            waiting_for=self.waiting_for(req),
                            objects_to=str(objects_to) if objects_to else None)
        # A request just filed has only the transitions above, no verification and no task yet.
        return await self.view(conn, req, cipher=cipher, known=([Transition(**t) for t in transitions], [], [])), token

    async def _objected(self, conn: asyncpg.Connection, ref: str) -> uuid.UUID:
        target = await self._find(conn, ref)
        if target is None:
            raise InvalidInput(f"There is no request '{ref}' to object to.",
                               errors=[{"field": "details.objects_to", "message": "unknown request"}])
        if target["status"] != "rejected":
            raise InvalidInput("Only a refusal can be objected to; that request was not refused.",
                               errors=[{"field": "details.objects_to", "message": "not a rejected request"}])
        return target["request_id"]

    async def _find(self, conn: asyncpg.Connection, ref: str) -> asyncpg.Record | None:
        try:
            return await store.request(conn, uuid.UUID(ref))
        except ValueError:
            return await store.request_by_reference(conn, ref)

    # --- reading --------------------------------------------------------------------------------

    async def load(self, conn: asyncpg.Connection, request_id: str, *, lock: bool = False) -> asyncpg.Record:
        try:
            rid = uuid.UUID(request_id)
        except ValueError:
            raise NotFound(f"There is no request '{request_id}'.") from None
        req = await store.request(conn, rid, lock=lock)
        if req is None:
            raise NotFound(f"There is no request '{request_id}'.")
        return req

    def check_token(self, req: asyncpg.Record, token: str) -> None:
        """The requester's token must match; compared in constant time."""
        if not req["token_hash"] or not hmac.compare_digest(req["token_hash"], token_hash(token)):
            raise Forbidden("This token does not open this request.")

    def waiting_for(self, req: asyncpg.Record) -> list[str]:
        status = req["status"]
        if status in domain.CLOSED_STATES:
            return []
        if req["child_own_request"] and not req["guardian_joined"]:
            return ["guardian"]
        if status in ("received", "verifying"):
            needs = ["identity_verification"]
            if req["relationship"] == "agent":
                needs.append("power_of_attorney")
            elif req["relationship"] == "legal_representative" or req["child_own_request"]:
                needs.append("proof_of_guardianship")
            return needs
        if status == "in_review":
            return ["decision"]
        if req["type"] == "restriction" and status == "in_progress":
            return ["clinic_systems", "lift"]
        return ["clinic_systems"]

    async def view(self, conn: asyncpg.Connection, req: asyncpg.Record, *, full: bool = True,
                   cipher: SubjectCipher | None = None,
                   known: tuple[list[Transition], list[VerificationOut], list[TaskOut]] | None = None) -> RequestOut:
        """The request as staff and its requester see it; ``cipher``: its key, if the caller has it;
        ``known``: its transitions, verifications and tasks, if the caller has just written all of them."""
        cipher = cipher or await self.keys.cipher(conn, req["key_ref"], create=False)
        personal = (cipher.open(req["personal"], context=str(req["request_id"])) if cipher else None) or {}
        now = self.clock()
        objects_to = None
        if req["objects_to"]:
            target = await store.request(conn, req["objects_to"])
            objects_to = target["reference"] if target else None
        out = RequestOut(
            request_id=str(req["request_id"]),
            reference=req["reference"],
            type=req["type"],
            jurisdiction=req["jurisdiction"],
            language=req["language"],
            status=req["status"],
            subject_id=req["subject_id"],
            subject=personal.get("subject"),
            requester={**personal["requester"], "relationship": req["relationship"]} if personal else None,
            details=personal.get("details"),
            by_guardian=req["by_guardian"],
            child_own_request=req["child_own_request"],
            waiting_for=self.waiting_for(req),
            channel=req["channel"],
            received_at=req["received_at"],
            acknowledge_by=req["acknowledge_by"],
            due_at=req["due_at"],
            original_due_at=req["original_due_at"],
            deadline_basis=req["deadline_basis"],
            extension_reason=req["extension_reason"],
            legal_ground=req["legal_ground"],
            how_to_object=HOW_TO_OBJECT[req["language"]] if req["status"] == "rejected" else None,
            objects_to=objects_to,
            closed_at=req["closed_at"],
            destroyed_at=req["destroyed_at"],
            overdue=req["status"] in domain.OPEN_STATES and req["due_at"] < now,
        )
        if personal.get("guardian"):
            out.requester = {**personal["guardian"], "relationship": "legal_representative"}
        if full and known is not None:
            out.transitions, out.verifications, out.tasks = known
        elif full:
            out.transitions = [Transition(**dict(t)) for t in await store.transitions(conn, req["request_id"])]
            out.verifications = [VerificationOut(**dict(v)) for v in await store.verifications(conn, req["request_id"])]
            out.tasks = [
                TaskOut(**{k: t[k] for k in ("system_id", "kind", "status", "attempts", "sent_at", "answer_due",
                                              "outcome", "answered_at")}, task_id=str(t["task_id"]))
                for t in await store.tasks(conn, req["request_id"])
            ]
        return out

    async def list(self, conn: asyncpg.Connection, **filters: Any) -> list[RequestSummary]:
        now = self.clock()
        rows = await store.list_requests(conn, now=now, **filters)
        return [
            RequestSummary(
                request_id=str(r["request_id"]), reference=r["reference"], type=r["type"],
                jurisdiction=r["jurisdiction"], status=r["status"], by_guardian=r["by_guardian"],
                child_own_request=r["child_own_request"], waiting_for=self.waiting_for(r),
                received_at=r["received_at"], due_at=r["due_at"],
                overdue=r["status"] in domain.OPEN_STATES and r["due_at"] < now,
            )
            for r in rows
        ]

    # --- workflow -------------------------------------------------------------------------------

    async def _move(self, conn: asyncpg.Connection, req: asyncpg.Record, to: str, *, actor: str,
                    reason: str | None, **changes: Any) -> asyncpg.Record:
        if not domain.can_move(req["status"], to):
            raise Conflict(f"A request that is {req['status']} cannot become {to}.", status_now=req["status"])
        now = self.clock()
        if to in domain.CLOSED_STATES:
            changes.setdefault("closed_at", now)
            changes.setdefault("destroy_after", now + self.settings.record_retention)
        elif req["status"] in domain.CLOSED_STATES:  # re-opened by an upheld objection
            changes.update(closed_at=None, destroy_after=None)
        moved = await store.update_request(conn, req["request_id"], status=to, updated_at=now, **changes)
        await store.add_transition(conn, req["request_id"], at=now, actor=actor, from_status=req["status"],
                                   to_status=to, reason=reason)
        return moved

    async def _publish(self, conn: asyncpg.Connection, model: type[RequestEvent], req: asyncpg.Record, **extra: Any) -> None:
        await outbox.enqueue(
            conn,
            model(
                request_id=str(req["request_id"]), reference=req["reference"], type=req["type"],
                jurisdiction=req["jurisdiction"], language=req["language"], status=req["status"],
                subject_id=req["subject_id"], by_guardian=req["by_guardian"],
                child_own_request=req["child_own_request"], due_at=req["due_at"], occurred_at=self.clock(),
                **extra,
            ),
            source=SOURCE,
        )

    async def _release_holds(self, conn: asyncpg.Connection, req: asyncpg.Record, now: datetime) -> None:
        """Release the request's active holds and tell the consent service (subject.hold.released)."""
        for hold in await store.release_holds(conn, req["request_id"], now):
            await outbox.enqueue(conn, SubjectHoldReleased(subject_id=hold["subject_id"], hold_id=str(hold["hold_id"]),
                                                           request_id=str(req["request_id"]), released_at=now),
                                 source=SOURCE)

    async def _transit(self, subject_id: str) -> bytes:
        """The subject's transit key, to seal what a task carries about them on Kafka."""
        if self.transit_key is None:
            raise Unavailable("No consent service is configured to issue transit keys.")
        try:
            return await self.transit_key(subject_id)
        except TransitKeyGone:
            raise Conflict(
                f"Subject '{subject_id}' was erased: their transit key is destroyed, so nothing about them can be "
                "sent to the clinic systems any more."
            ) from None

    async def _cipher(self, conn: asyncpg.Connection, req: asyncpg.Record) -> SubjectCipher:
        cipher = await self.keys.cipher(conn, req["key_ref"], create=False)
        if cipher is None:
            raise Conflict("This request's record was destroyed at the end of its retention period.")
        return cipher

    async def join_guardian(self, conn: asyncpg.Connection, req: asyncpg.Record, body: JoinGuardian, *, actor: str) -> asyncpg.Record:
        """A legal representative joins a child's own request; verification can then begin."""
        if not req["child_own_request"]:
            raise Conflict("Only a child's own request waits for a legal representative to join it.")
        if req["guardian_joined"]:
            raise Conflict("A legal representative has already joined this request.")
        cipher = await self._cipher(conn, req)
        personal = cipher.open(req["personal"], context=str(req["request_id"])) or {}
        personal["guardian"] = body.model_dump(mode="json")
        req = await store.update_request(conn, req["request_id"], guardian_joined=True,
                                         personal=cipher.seal(personal, context=str(req["request_id"])))
        return await self._move(conn, req, "verifying", actor=actor,
                                reason=f"legal representative joined ({body.relationship_detail})")

    async def verify(self, conn: asyncpg.Connection, req: asyncpg.Record, body: RecordVerification, *, by: str) -> asyncpg.Record:
        """Record how the requester was verified. Nothing changes any data before this."""
        if req["status"] == "received" and req["child_own_request"] and not req["guardian_joined"]:
            raise Conflict("This is a child's own request: a legal representative must join it before verification.")
        if req["status"] != "verifying":
            raise Conflict(f"A request that is {req['status']} is not waiting for verification.")
        representative = req["relationship"] in ("legal_representative", "agent") or req["child_own_request"]
        if req["relationship"] == "agent" and body.method != "power_of_attorney":
            raise InvalidInput("An agent needs a written power of attorney on file (PIPA Enforcement Decree 46).",
                               errors=[{"field": "method", "message": "power_of_attorney required for an agent"}])
        if representative and not body.representative_checked:
            raise InvalidInput(
                "The representative's authority must be checked (family relation certificate or power of attorney) "
                "before a request made for someone else can go on.",
                errors=[{"field": "representative_checked", "message": "must be true for a representative"}],
            )
        subject_id = body.subject_id or req["subject_id"]
        if subject_id is None:
            raise InvalidInput("Identify the subject: give the clinic's subject_id of the person the request is about.",
                               errors=[{"field": "subject_id", "message": "required while the subject is unknown"}])
        now = self.clock()
        await store.add_verification(conn, req["request_id"], method=body.method, verified_by=by,
                                     evidence_ref=body.evidence_ref, representative_checked=body.representative_checked,
                                     at=now)
        req = await self._move(conn, req, "in_review", actor=f"staff:{by}",
                               reason=f"verified by {body.method}" + (f": {body.note}" if body.note else ""),
                               subject_id=subject_id)
        await self._publish(conn, RequestVerified, req, method=body.method)
        return req

    async def decide(self, conn: asyncpg.Connection, req: asyncpg.Record, body: Decide, *, by: str) -> asyncpg.Record:
        if req["status"] != "in_review":
            raise Conflict(f"A request that is {req['status']} is not waiting for a decision.")
        actor = f"privacy_manager:{by}"
        now = self.clock()
        if body.decision == "reject":
            req = await self._move(conn, req, "rejected", actor=actor, reason=body.legal_ground,
                                   legal_ground=body.legal_ground, decided_by=by, decided_at=now)
            await self._publish(conn, RequestRejected, req, decided_by=by, legal_ground=body.legal_ground or "")
            return req
        req = await self._move(conn, req, "approved", actor=actor, reason=body.note or "approved",
                               decided_by=by, decided_at=now)
        await self._publish(conn, RequestApproved, req, decided_by=by)
        return await self._carry_out(conn, req)

    async def _carry_out(self, conn: asyncpg.Connection, req: asyncpg.Record) -> asyncpg.Record:
        """Fan an approved request out to the clinic systems and the consent service."""
        now = self.clock()
        subject_id = req["subject_id"]
        kind = req["type"]
        personal = (await self._cipher(conn, req)).open(req["personal"], context=str(req["request_id"])) or {}
        details = personal.get("details", {})
        actor_role = "legal_representative" if req["by_guardian"] or req["child_own_request"] else "self"
        if kind == "erasure":
            await outbox.enqueue(conn, SubjectErasureApproved(subject_id=subject_id, request_id=str(req["request_id"]),
                                                              approved_at=now), source=SOURCE)
        if kind in ("consent_withdrawal", "membership_withdrawal"):
            purposes = details.get("purposes") if kind == "consent_withdrawal" else list(domain.MEMBERSHIP_PURPOSES)
            await outbox.enqueue(
                conn,
                SubjectConsentWithdrawalRequested(
                    subject_id=subject_id, request_id=str(req["request_id"]), purposes=purposes,
                    actor_role=actor_role, method=CHANNEL_METHOD[req["channel"]], requested_at=req["received_at"],
                ),
                source=SOURCE,
            )
        if kind in ("rectification", "restriction"):
            hold_id = uuid.uuid4()
            await store.place_hold(conn, hold_id=hold_id, request_id=req["request_id"], subject_id=subject_id,
                                   reason=kind, at=now)
            await outbox.enqueue(conn, SubjectHoldPlaced(subject_id=subject_id, hold_id=str(hold_id),
                                                         request_id=str(req["request_id"]), reason=kind,
                                                         placed_at=now), source=SOURCE)
        if kind == "objection":
            target = await store.request(conn, req["objects_to"], lock=True)
            if target is not None and target["status"] == "rejected":
                await self._move(conn, target, "in_review", actor=f"objection:{req['reference']}",
                                 reason=f"objection {req['reference']} upheld: the request is reviewed again")
        planned = domain.plan_tasks(kind, [dict(s) for s in await store.systems(conn)])
        # Corrections travel sealed with the subject's transit key (fetched once, never kept).
        transit = await self._transit(subject_id) if any(t.kind == "rectify" for t in planned) else None
        if not planned:
            if kind == "restriction":  # nothing to tell, but the hold stays until it is lifted
                return await self._move(conn, req, "in_progress", actor="system", reason="no clinic system to restrict")
            return await self._finish(conn, req)
        for task in planned:
            await self._send_task(conn, req, task.system_id, task.kind, details=details, transit=transit,
                                  retain_classes=list(task.retain_classes), amend_classes=list(task.amend_classes))
        return await self._move(conn, req, "in_progress", actor="system",
                                reason=f"{len(planned)} task(s) sent to clinic systems")

    async def _send_task(self, conn: asyncpg.Connection, req: asyncpg.Record, system_id: str, kind: str, *,
                         details: dict[str, Any], transit: bytes | None = None, retain_classes: list[str] = (),
                         amend_classes: list[str] = ()) -> None:
        now = self.clock()
        task_id = uuid.uuid4()
        plan: dict[str, Any] = {}
        if kind == "erase":
            plan["retain_classes"] = list(retain_classes)
        if kind == "rectify":
            # Sealed once, with the subject's transit key: the plan (and every re-send of the task)
            # holds only the JWE, which the erasure of the subject makes unreadable everywhere.
            assert transit is not None, "a rectify task needs the subject's transit key"
            plan["sealed"] = sealing.seal({"corrections": details.get("corrections", [])}, transit,
                                          kid=req["subject_id"])
            plan["amend_classes"] = list(amend_classes)
        due = min(now + self.settings.task_timeout, max(req["due_at"], now))
        await store.insert_task(conn, {"task_id": task_id, "request_id": req["request_id"], "system_id": system_id,
                                       "kind": kind, "plan": plan, "sent_at": now, "answer_due": due})
        await self._publish_task(conn, req, task_id=task_id, system_id=system_id, kind=kind, plan=plan,
                                 attempt=1, due=due)

    async def _publish_task(self, conn: asyncpg.Connection, req: asyncpg.Record, *, task_id: uuid.UUID,
                            system_id: str, kind: str, plan: dict[str, Any], attempt: int, due: datetime) -> None:
        model = TASK_MODELS[kind]
        task = model(task_id=str(task_id), request_id=str(req["request_id"]), reference=req["reference"],
                     system_id=system_id, subject_id=req["subject_id"], jurisdiction=req["jurisdiction"],
                     attempt=attempt, due_at=due, **plan)
        data = task.model_dump(mode="json")
        for optional in ("corrections", "sealed"):  # a rectify task gives one of the two, not both
            if optional in data and data[optional] is None:
                del data[optional]
        event = new_event(source=SOURCE, type=task.event_type, subject=task.kafka_key(), data=data)
        await outbox.enqueue_event(conn, event, topic=task.topic, key=task.kafka_key())

    async def lift(self, conn: asyncpg.Connection, req: asyncpg.Record, *, by: str) -> asyncpg.Record:
        """End a restriction: the hold is released and the systems told they may resume."""
        if req["type"] != "restriction" or req["status"] != "in_progress":
            raise Conflict("Only a restriction in progress can be lifted.")
        tasks = await store.tasks(conn, req["request_id"])
        if any(t["kind"] == "lift" for t in tasks):
            raise Conflict("This restriction has already been lifted.")
        now = self.clock()
        await self._release_holds(conn, req, now)
        await store.add_transition(conn, req["request_id"], at=now, actor=f"staff:{by}", from_status=req["status"],
                                   to_status=req["status"], reason="restriction lifted")
        systems = sorted({t["system_id"] for t in tasks if t["kind"] == "restrict"})
        for system_id in systems:
            await self._send_task(conn, req, system_id, "lift", details={})
        if not systems:
            return await self._finish(conn, req)
        return req

    async def extend(self, conn: asyncpg.Connection, req: asyncpg.Record, body: Extend, *, by: str) -> asyncpg.Record:
        if req["status"] not in domain.OPEN_STATES:
            raise Conflict(f"A request that is {req['status']} has no deadline to extend.")
        if req["extended_at"] is not None:
            raise Conflict("The deadline was already extended once; it may be extended only once.")
        now = self.clock()
        new_due = domain.extend(req["jurisdiction"], req["due_at"])
        previous = req["due_at"]
        req = await store.update_request(conn, req["request_id"], due_at=new_due, extension_reason=body.reason,
                                         extended_at=now, updated_at=now)
        await store.add_transition(conn, req["request_id"], at=now, actor=f"privacy_manager:{by}",
                                   from_status=req["status"], to_status=req["status"],
                                   reason=f"deadline extended to {new_due.isoformat()}: {body.reason}")
        await self._publish(conn, RequestExtended, req, previous_due_at=previous, reason=body.reason)
        return req

    async def withdraw(self, conn: asyncpg.Connection, req: asyncpg.Record, *, actor: str, reason: str | None) -> asyncpg.Record:
        if req["status"] not in domain.OPEN_STATES:
            raise Conflict(f"A request that is {req['status']} can no longer be withdrawn.")
        now = self.clock()
        await self._release_holds(conn, req, now)
        req = await self._move(conn, req, "withdrawn", actor=actor, reason=reason or "withdrawn by the requester")
        await self._publish(conn, RequestWithdrawn, req)
        return req

    # --- clinic systems and their answers -------------------------------------------------------

    async def register_system(self, conn: asyncpg.Connection, body: RegisterSystem) -> tuple[SystemOut, bool]:
        unknown = [c for c in body.retention_classes if c not in RETENTION_CLASSES]
        if unknown:
            raise InvalidInput(f"Unknown retention classes: {', '.join(unknown)}. Known: {', '.join(RETENTION_CLASSES)}.",
                               errors=[{"field": "retention_classes", "message": f"unknown {c}"} for c in unknown])
        created = await store.upsert_system(conn, body.model_dump(), self.clock())
        return SystemOut(**dict(await store.system(conn, body.system_id))), created

    async def check_result(self, conn: asyncpg.Connection, result: TaskResult, *,
                           lock: bool = False) -> tuple[asyncpg.Record, asyncpg.Record] | None:
        """The task and request an answer is for, after checking it names them rightly; None when
        the task was already answered (a duplicate). Writes nothing."""
        try:
            task_id = uuid.UUID(result.task_id)
        except ValueError:
            raise NotFound(f"There is no task '{result.task_id}'.") from None
        task = await store.task(conn, task_id, lock=lock)
        if task is None:
            raise NotFound(f"There is no task '{result.task_id}'.")
        if task["system_id"] != result.system_id:
            raise InvalidInput(f"Task {result.task_id} was sent to system '{task['system_id']}', not '{result.system_id}'.",
                               errors=[{"field": "system_id", "message": "not the task's system"}])
        if str(task["request_id"]) != result.request_id:
            raise InvalidInput("request_id does not match the task.", errors=[{"field": "request_id", "message": "mismatch"}])
        if task["status"] == "answered":
            return None
        req = await store.request(conn, task["request_id"], lock=lock)
        if result.subject_id != req["subject_id"]:
            raise InvalidInput("subject_id does not match the task.", errors=[{"field": "subject_id", "message": "mismatch"}])
        return task, req

    async def record_result(self, conn: asyncpg.Connection, result: TaskResult) -> bool:
        """Store a system's answer to a task, its ``sealed`` part already opened (:func:`open_result`),
        sealed under the request's own key. Returns False for a duplicate answer (ignored)."""
        if result.sealed is not None:
            raise ValueError("open the sealed part of a result (open_result) before recording it")
        checked = await self.check_result(conn, result, lock=True)
        if checked is None:
            return False
        task, req = checked
        cipher = await self._cipher(conn, req)
        now = self.clock()
        await store.answer_task(conn, task["task_id"], outcome=result.outcome,
                                result=cipher.seal(result.model_dump(mode="json", exclude={"sealed"}),
                                                   context=str(task["task_id"])), at=now)
        if req["status"] == "in_progress":
            await self._finish(conn, req)
        return True

    # --- results ---------------------------------------------------------------------------------

    async def result(self, conn: asyncpg.Connection, req: asyncpg.Record, consent_history: Callable | None) -> dict[str, Any]:
        """The answer to the requester: what each system did, and for access, everything held."""
        if req["status"] not in ("completed", "partially_completed", "rejected", "withdrawn"):
            raise Conflict(f"The request is {req['status']}: its result is not ready yet.", status_now=req["status"])
        cipher = await self._cipher(conn, req)
        systems = []
        kept_by_law = []
        for t in await store.tasks(conn, req["request_id"]):
            answer = cipher.open(t["result"], context=str(t["task_id"])) or {}
            for item in answer.get("retained", []):
                rc = RETENTION_CLASSES.get(item["retention_class"])
                kept_by_law.append({**item, "system_id": t["system_id"], "system": t["system_name"],
                                    "legal_ground": rc.citation if rc else None})
            systems.append({
                "system_id": t["system_id"], "name": t["system_name"], "processor": t["processor"],
                "task": t["kind"], "status": t["status"], "outcome": t["outcome"],
                "exported": answer.get("exported", []), "erased": answer.get("erased", []),
                "retained": answer.get("retained", []), "note": answer.get("note"),
            })
        report: dict[str, Any] = {
            "request_id": str(req["request_id"]),
            "reference": req["reference"],
            "type": req["type"],
            "status": req["status"],
            "subject_id": req["subject_id"],
            "closed_at": req["closed_at"],
            "legal_ground": req["legal_ground"],
            "how_to_object": HOW_TO_OBJECT[req["language"]] if req["status"] == "rejected" else None,
            "systems": systems,
            "kept_by_law": kept_by_law,
        }
        if req["type"] == "access" and req["status"] in ("completed", "partially_completed"):
            exported = [item for s in systems for item in s["exported"]]
            report["items_held"] = sorted({item["category"] for item in exported})
            report["purposes"] = sorted({p for item in exported for p in item.get("purposes", [])})
            report["retention"] = sorted(
                {(item["category"], item["retention_class"]) for item in exported if item.get("retention_class")}
            )
            report["retention"] = [
                {"category": c, "retention_class": rc,
                 "legal_ground": RETENTION_CLASSES[rc].citation if rc in RETENTION_CLASSES else None}
                for c, rc in report["retention"]
            ]
            report["recipients"] = sorted({r for item in exported for r in item.get("recipients", [])}
                                          | {s["name"] for s in systems if s["processor"]})
            report["consents"] = await consent_history(req["subject_id"]) if consent_history else None
        return report

    async def _finish(self, conn: asyncpg.Connection, req: asyncpg.Record) -> asyncpg.Record:
        """Complete the request when every task has answered (and, for a restriction, after the lift)."""
        tasks = await store.tasks(conn, req["request_id"])
        if any(t["status"] != "answered" for t in tasks):
            return req
        if req["type"] == "restriction" and not any(t["kind"] == "lift" for t in tasks):
            return req
        cipher = await self._cipher(conn, req)
        kept = False
        for t in tasks:
            answer = cipher.open(t["result"], context=str(t["task_id"])) or {}
            kept = kept or t["outcome"] in ("partially_done", "failed") or bool(answer.get("retained"))
        outcome = "partially_completed" if kept else "completed"
        now = self.clock()
        if req["type"] == "rectification":
            await self._release_holds(conn, req, now)
        req = await self._move(conn, req, outcome, actor="system", reason="every clinic system answered")
        await self._publish(conn, RequestCompleted, req, outcome=outcome)
        return req
