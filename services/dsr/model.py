"""A request and its tasks as typed values, with the rules that read them.

The store loads them (``store.request``, ``store.tasks``); the service changes them only through
the store, which gives back the new value. Nothing here touches the database or the network.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from services.dsr import domain, errors
from shared.events import Jurisdiction, Language, RequestStatus, RequestType

#: How each kind of deadline notice is named (its key in deadline_notices): overdue, or the share
#: of the time gone, highest first (a request found past 80% at once is told 80%, not 50% too).
NOTICE_THRESHOLDS = (80, 50)


@dataclass(frozen=True)
class Request:
    """One data-subject request, as stored (its personal part sealed in ``personal``)."""

    request_id: uuid.UUID
    reference: str
    type: RequestType
    jurisdiction: Jurisdiction
    language: Language
    status: RequestStatus
    subject_id: str | None
    relationship: str
    by_guardian: bool
    child_own_request: bool
    guardian_joined: bool
    channel: str
    entered_by: str | None
    objects_to: uuid.UUID | None
    token_hash: str
    key_ref: str
    personal: bytes | None
    received_at: datetime
    acknowledge_by: datetime | None
    due_at: datetime
    original_due_at: datetime
    deadline_basis: str
    extension_reason: str | None
    extended_at: datetime | None
    legal_ground: str | None
    decided_by: str | None
    decided_at: datetime | None
    closed_at: datetime | None
    destroy_after: datetime | None
    destroyed_at: datetime | None
    updated_at: datetime
    #: The law of where the person lives, when it is not the clinic's (``jurisdiction``).
    residence: Jurisdiction | None = None
    #: The refusal's legal ground, and the extension's (ids of ``shared/rules/grounds.yaml``).
    ground: str | None = None
    extension_ground: str | None = None
    #: When an upheld objection withdrew the extension: the original deadline applies again.
    extension_withdrawn_at: datetime | None = None
    #: Vietnam's acknowledgement (``acknowledge_by``): when, by whom, how (email, sms, staff).
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    acknowledged_via: str | None = None
    #: The deadline basis to be read in any language (``shared.i18n.Said``, stored).
    deadline_said: dict[str, Any] | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Request:
        return cls(**{name: row[name] for name in _REQUEST_FIELDS})

    @property
    def context(self) -> str:
        """What its sealed personal part is bound to."""
        return str(self.request_id)

    @property
    def is_open(self) -> bool:
        return self.status in domain.OPEN_STATES

    @property
    def laws(self) -> tuple[str, ...]:
        """The laws the request is answered under: the clinic's, then the person's if another."""
        return domain.applicable_laws(self.jurisdiction, self.residence)

    @property
    def extension_running(self) -> bool:
        """Extended, still open, and the extension not withdrawn: it can be objected to."""
        return self.is_open and self.extended_at is not None and self.extension_withdrawn_at is None

    def late(self, now: datetime) -> bool:
        """Past its deadline: a refusal or an extension now needs the reason it is late."""
        return now > self.due_at

    def overdue(self, now: datetime) -> bool:
        return self.is_open and self.due_at < now

    @property
    def for_someone_else(self) -> bool:
        """Filed by a representative (or a child who needs one): their authority must be checked."""
        return self.relationship in ("legal_representative", "agent") or self.child_own_request

    @property
    def actor_role(self) -> str:
        """Who acts for the subject, as the consent ledger records it."""
        return "legal_representative" if self.by_guardian or self.child_own_request else "self"

    @property
    def waits_for_guardian(self) -> bool:
        return self.child_own_request and not self.guardian_joined

    def waiting_for(self) -> list[str]:
        """What the request waits for, as the requester and staff are told."""
        if self.status in domain.CLOSED_STATES:
            return []
        if self.waits_for_guardian:
            return ["guardian"]
        if self.status in ("received", "verifying"):
            needs = ["identity_verification"]
            if self.relationship == "agent":
                needs.append("power_of_attorney")
            elif self.relationship == "legal_representative" or self.child_own_request:
                needs.append("proof_of_guardianship")
            return needs
        if self.status == "in_review":
            return ["answer"] if self.type == "complaint" else ["decision"]
        if self.type == "restriction" and self.status == "in_progress":
            return ["clinic_systems", "lift"]
        return ["clinic_systems"]

    # --- the rules of each step (each raises the refusal, or returns what the step needs) -------

    def check_move(self, to: str) -> None:
        if not domain.can_move(self.status, to):
            raise errors.IllegalTransition(f"A request that is {self.status} cannot become {to}.",
                                           status_now=self.status)

    def closing(self, to: str, now: datetime, destroy_after: datetime) -> dict[str, Any]:
        """What a move to ``to`` stamps: closing and destruction times, or their clearing on re-opening."""
        if to in domain.CLOSED_STATES:
            return {"closed_at": now, "destroy_after": destroy_after}
        if self.status in domain.CLOSED_STATES:  # re-opened by an upheld objection
            return {"closed_at": None, "destroy_after": None}
        return {}

    def check_guardian_may_join(self) -> None:
        if not self.child_own_request:
            raise errors.NotAChildsOwnRequest("Only a child's own request waits for a legal representative to join it.")
        if self.guardian_joined:
            raise errors.GuardianAlreadyJoined("A legal representative has already joined this request.")

    def check_verification(self, *, method: str, representative_checked: bool, subject_id: str | None) -> str:
        """Whether the verification recorded lets the request go on; returns the subject's id."""
        if self.status == "received" and self.waits_for_guardian:
            raise errors.ChildCannotFileAlone(
                "This is a child's own request: a legal representative must join it before verification.")
        if self.status != "verifying":
            raise errors.NotAwaitingVerification(f"A request that is {self.status} is not waiting for verification.")
        if self.relationship == "agent" and method != "power_of_attorney":
            raise errors.AgentNeedsPowerOfAttorney(
                "An agent needs a written power of attorney on file (PIPA Enforcement Decree 46).")
        if self.for_someone_else and not representative_checked:
            raise errors.RepresentativeNotChecked(
                "The representative's authority must be checked (family relation certificate or power of attorney) "
                "before a request made for someone else can go on.")
        subject = subject_id or self.subject_id
        if subject is None:
            raise errors.SubjectUnidentified(
                "Identify the subject: give the clinic's subject_id of the person the request is about.")
        return subject

    def check_decidable(self) -> None:
        if self.type == "complaint":
            raise errors.ComplaintIsAnswered(
                "A complaint is answered by the privacy manager (POST /v1/requests/{id}/answer), not approved or "
                "refused.")
        if self.status != "in_review":
            raise errors.NotAwaitingDecision(f"A request that is {self.status} is not waiting for a decision.")

    def check_answerable(self) -> None:
        if self.type != "complaint":
            raise errors.NotAComplaint("Only a complaint is answered; decide on other requests (approve or refuse).")
        if self.status != "in_review":
            raise errors.NotAwaitingAnswer(f"A complaint that is {self.status} is not waiting for an answer.")

    def check_extendable(self) -> None:
        if not self.is_open:
            raise errors.NoDeadlineToExtend(f"A request that is {self.status} has no deadline to extend.")
        if self.extended_at is not None:
            raise errors.AlreadyExtended("The deadline was already extended once; it may be extended only once.")

    def check_ground(self, ground: str, decision: str) -> None:
        """The ground must be one the request's law gives for this ``decision`` (refusal or
        extension) of this type of request."""
        law = self.jurisdiction
        allowed = domain.refusal_grounds(law, self.type) if decision == "refusal" else domain.extension_grounds(law)
        if ground not in {g.id for g in allowed}:
            what = f"refusing a request of type {self.type}" if decision == "refusal" else "extending a deadline"
            offered = ", ".join(g.id for g in allowed) or "none: such a request cannot be refused under this law"
            raise errors.GroundNotAllowed(f"'{ground}' is not a ground of {law} law for {what}. The grounds: {offered}.")

    def check_in_time(self, now: datetime, late_reason: str | None, what: str) -> None:
        """After the deadline, a refusal or an extension needs the reason it is late."""
        if self.late(now) and not (late_reason or "").strip():
            raise errors.LateWithoutReason(
                f"The deadline passed on {self.due_at.isoformat()}: {what} after it needs late_reason, why it is late "
                f"(kept in the audit trail).")

    def check_withdrawable(self) -> None:
        if not self.is_open:
            raise errors.CannotWithdraw(f"A request that is {self.status} can no longer be withdrawn.")

    def check_liftable(self, tasks: Sequence[Task]) -> None:
        if self.type != "restriction" or self.status != "in_progress":
            raise errors.NotLiftable("Only a restriction in progress can be lifted.")
        if lifted(tasks):
            raise errors.AlreadyLifted("This restriction has already been lifted.")

    def check_objectable(self) -> None:
        """This request, named by an objection, must be a refusal or a running extension."""
        if self.status != "rejected" and not self.extension_running:
            raise errors.NotARefusal("Only a refusal, or the extension of a request still open, can be objected to; "
                                     "that request was neither refused nor extended.")

    def acknowledgement_overdue(self, now: datetime) -> bool:
        """Owed an acknowledgement (Vietnam's 2 working days) whose date passed without one."""
        return (self.acknowledge_by is not None and self.acknowledged_at is None and self.is_open
                and now > self.acknowledge_by)

    def check_acknowledgeable(self) -> None:
        if self.acknowledge_by is None:
            raise errors.NoAcknowledgementOwed(
                "No law that applies to this request asks for an acknowledgement (only Vietnam's does).")

    @property
    def result_ready(self) -> bool:
        return self.status in domain.CLOSED_STATES

    def check_result_ready(self) -> None:
        if not self.result_ready:
            raise errors.ResultNotReady(f"The request is {self.status}: its result is not ready yet.",
                                        status_now=self.status)

    def notice_due(self, now: datetime) -> str | None:
        """The deadline notice the request has reached (``overdue``, ``80``, ``50``), if any."""
        if now > self.due_at:
            return "overdue"
        span = (self.due_at - self.received_at).total_seconds() or 1
        elapsed = (now - self.received_at).total_seconds() / span
        return next((str(t) for t in NOTICE_THRESHOLDS if elapsed >= t / 100), None)


_REQUEST_FIELDS = tuple(f.name for f in fields(Request))


@dataclass(frozen=True)
class Task:
    """Work sent to one clinic system for a request; ``result`` is its answer, sealed under the
    request's key. ``system_name`` and ``processor`` are its system's, when loaded with them."""

    task_id: uuid.UUID
    request_id: uuid.UUID
    system_id: str
    kind: str
    status: str
    attempts: int
    plan: dict[str, Any]
    sent_at: datetime
    answer_due: datetime
    outcome: str | None
    result: bytes | None
    answered_at: datetime | None
    system_name: str | None = None
    processor: bool = False
    #: Who closed it by hand, without its system's answer (None: answered by its system, or open).
    closed_by: str | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Task:
        return cls(**{name: row[name] for name in _TASK_FIELDS if name in row})

    @property
    def context(self) -> str:
        """What its sealed answer is bound to."""
        return str(self.task_id)

    @property
    def answered(self) -> bool:
        return self.status == "answered"


_TASK_FIELDS = tuple(f.name for f in fields(Task))


@dataclass(frozen=True)
class TransitKey:
    """A subject's transit key, fetched from the consent service before the transaction it is used in."""

    subject_id: str
    key: bytes


def lifted(tasks: Iterable[Task]) -> bool:
    """Whether a restriction's lift was sent."""
    return any(t.kind == "lift" for t in tasks)


def all_answered(request: Request, tasks: Sequence[Task], *, lifting: bool = False) -> bool:
    """Every task answered (and, for a restriction, only after its lift: a lift task sent, or
    ``lifting`` when it is being lifted with no system left to tell): the request can complete."""
    if any(not t.answered for t in tasks):
        return False
    return request.type != "restriction" or lifting or lifted(tasks)


def outcome(tasks: Sequence[Task], answers: Mapping[uuid.UUID, dict[str, Any]]) -> str:
    """How a request whose tasks all answered ends: partially, if any system kept or failed anything."""
    kept = any(t.outcome in ("partially_done", "failed") or bool(answers.get(t.task_id, {}).get("retained"))
               for t in tasks)
    return "partially_completed" if kept else "completed"
