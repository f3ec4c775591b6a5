"""HTTP request and response bodies of the request service."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from shared.dates import Day
from shared.events import Correction, Jurisdiction, Language, RequestStatus, RequestType, SubjectId
from shared.rules.grounds import ExtensionGround, RefusalGround

Channel = Literal["portal", "phone", "paper", "email", "in_person"]
Relationship = Literal["self", "legal_representative", "agent"]


LateReason = Field(default=None, max_length=2000, description=(
    "Once the deadline has passed, required to refuse or to extend (409 without): why it is late, kept in "
    "the audit trail. Not read before the deadline, nor for an approval."))


class SubjectIn(BaseModel):
    """The person the request is about."""

    model_config = ConfigDict(extra="forbid")
    subject_id: SubjectId | None = Field(default=None, description="The clinic's id, if the requester knows it")
    name: str = Field(min_length=1, max_length=200)
    birth_date: Day
    contact: str | None = Field(default=None, max_length=200, description="Phone or email")


class RequesterIn(BaseModel):
    """Who files the request: the person, their legal representative, or an agent."""

    model_config = ConfigDict(extra="forbid")
    relationship: Relationship
    name: str | None = Field(default=None, max_length=200, description="Required unless relationship is self")
    contact: str | None = Field(default=None, max_length=200, description="Where the result is sent")
    relationship_detail: str | None = Field(default=None, max_length=100, examples=["mother", "father", "guardian"])


class DetailsIn(BaseModel):
    """What the request needs beyond its type."""

    model_config = ConfigDict(extra="forbid")
    corrections: list[Correction] | None = Field(default=None, max_length=50, description="rectification: what is wrong and what it should be")
    objects_to: str | None = Field(default=None, description="objection: the reference or id of the request objected to")
    purposes: list[str] | None = Field(default=None, max_length=20, description="consent_withdrawal: purposes (all when absent)")
    complaint: str | None = Field(default=None, max_length=4000,
                                  description="complaint: what the complaint is about, for the privacy manager to answer")
    note: str | None = Field(default=None, max_length=4000)


class OpenRequest(BaseModel):
    """File a data-subject request (command)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{
            "type": "access", "residence": "VN", "language": "vi",
            "subject": {"name": "Trần Minh An", "birth_date": "2016-05-05", "subject_id": "patient-2002"},
            "requester": {"relationship": "legal_representative", "name": "Nguyễn Thị Lan",
                          "contact": "lan@example.com", "relationship_detail": "mother"},
        }]},
    )
    type: RequestType
    residence: Jurisdiction | None = Field(default=None, description=(
        "Where the person lives, when that law is not the clinic's: it may shorten the deadline or add "
        "rights (Vietnam's acknowledgement within 2 working days), never lengthen it. The law that governs "
        "the request is the clinic's (DONGUI_CLINIC_JURISDICTION), whatever is sent here."))
    jurisdiction: Jurisdiction | None = Field(default=None, json_schema_extra={"deprecated": True}, description=(
        "Deprecated: read as `residence` when that is absent. It never sets the law of the request, which "
        "is the clinic's: a Korean clinic answers within 10 days whatever is sent here."))
    language: Language = "ko"
    subject: SubjectIn
    requester: RequesterIn
    details: DetailsIn = Field(default_factory=DetailsIn)
    channel: Channel | None = Field(default=None, description="Staff only: how the request arrived (portal otherwise)")

    @model_validator(mode="after")
    def _consistent(self) -> OpenRequest:
        if self.requester.relationship != "self" and not self.requester.name:
            raise ValueError("requester.name is required for a legal representative or an agent")
        if self.requester.relationship == "self" and not (self.requester.contact or self.subject.contact):
            raise ValueError("a contact (subject.contact or requester.contact) is needed to send the result")
        if self.requester.relationship != "self" and not self.requester.contact:
            raise ValueError("requester.contact is needed to send the result")
        if self.type == "rectification" and not self.details.corrections:
            raise ValueError("details.corrections is required for a rectification: what is wrong, and what it should be")
        if self.type == "objection" and not self.details.objects_to:
            raise ValueError("details.objects_to is required for an objection: the request objected to")
        if self.type == "complaint" and not (self.details.complaint or "").strip():
            raise ValueError("details.complaint is required for a complaint: what it is about")
        return self

    @property
    def person_law(self) -> Jurisdiction | None:
        """The person's own law, if they gave one (``residence``, or the deprecated ``jurisdiction``)."""
        return self.residence or self.jurisdiction


class Transition(BaseModel):
    at: datetime
    actor: str
    from_status: str | None
    to_status: str
    reason: str | None
    said: dict[str, Any] | None = Field(default=None, description=(
        "The reason as recorded to be read in any language: a key of the message catalogue "
        "(shared/i18n), the codes it names and its values. Null for a reason recorded as written."))


class VerificationOut(BaseModel):
    method: str
    verified_by: str
    evidence_ref: str
    representative_checked: bool
    at: datetime


class TaskOut(BaseModel):
    task_id: str
    system_id: str
    kind: str
    status: str
    attempts: int
    sent_at: datetime
    answer_due: datetime
    outcome: str | None
    answered_at: datetime | None


class GroundOut(BaseModel):
    """A legal ground from the list (shared/rules/grounds.yaml), in the request's language."""

    id: str
    law: Jurisdiction
    citation: str
    text: str


class RemedyOut(BaseModel):
    """A body outside the clinic the person may turn to, in the request's language."""

    id: str
    name: str
    phone: str | None
    url: str | None


class KeptByLaw(BaseModel):
    """A closed request's record is kept only because a law requires it (a complaint record,
    PIPA Art. 21(3)): apart, until ``until``, its personal part read by the privacy manager only."""

    retention_class: str
    citation: str
    until: datetime = Field(description="When its personal part is destroyed.")
    withheld: bool = Field(description="True: its personal part is withheld from this reader (staff).")


class RequestOut(BaseModel):
    """A request as staff and the requester see it."""

    request_id: str
    reference: str
    type: RequestType
    jurisdiction: Jurisdiction = Field(description="The clinic's law, which governs the request.")
    residence: Jurisdiction | None = Field(default=None, description="The person's own law, if another.")
    laws: list[Jurisdiction] = Field(description="The laws its deadlines were computed under, the clinic's first.")
    language: Language
    status: RequestStatus
    subject_id: str | None
    subject: dict[str, Any] | None = Field(description="Null once the record was destroyed")
    requester: dict[str, Any] | None
    details: dict[str, Any] | None
    by_guardian: bool
    child_own_request: bool
    waiting_for: list[str]
    channel: str
    received_at: datetime
    acknowledge_by: datetime | None = Field(description=(
        "When the request must be acknowledged (Vietnam: 2 working days); null when no law applying asks it."))
    acknowledged_at: datetime | None = Field(default=None, description="When it was acknowledged, once.")
    acknowledged_via: Literal["email", "sms", "staff"] | None = Field(default=None, description=(
        "email or sms: the requester was told it was received; staff: recorded by hand."))
    due_at: datetime
    original_due_at: datetime
    deadline_basis: str
    deadline_said: dict[str, Any] | None = Field(default=None, description=(
        "The deadline basis to be read in any language (as a transition's 'said')."))
    extension_ground: GroundOut | None = None
    extension_reason: str | None
    extension_withdrawn_at: datetime | None = None
    ground: GroundOut | None = Field(default=None, description="A refusal's legal ground.")
    legal_ground: str | None = Field(description="Free text beside a refusal's ground.")
    how_to_object: str | None = Field(description="How to object to a refusal or to a running extension.")
    remedies: list[RemedyOut] = Field(default=[], description=(
        "Where else the person may turn (a refusal, an answered complaint): each law's bodies, with contacts."))
    answer: str | None = Field(default=None, description="A complaint's answer, by the privacy manager.")
    objects_to: str | None
    closed_at: datetime | None
    destroyed_at: datetime | None
    kept_by_law: KeptByLaw | None = Field(default=None, description=(
        "Once closed: the record is kept only as the law requires, and read in full by the privacy manager and "
        "the requester only; null while open or once destroyed."))
    overdue: bool
    transitions: list[Transition] = []
    verifications: list[VerificationOut] = []
    tasks: list[TaskOut] = []


class OpenedRequest(RequestOut):
    token: str = Field(description="The requester's secret: send it as 'Authorization: Bearer <token>' to read status and results. Shown once.")


class RequestSummary(BaseModel):
    request_id: str
    reference: str
    type: RequestType
    jurisdiction: Jurisdiction
    status: RequestStatus
    by_guardian: bool
    child_own_request: bool
    waiting_for: list[str]
    received_at: datetime
    due_at: datetime
    overdue: bool


class RecordVerification(BaseModel):
    """How staff verified the requester (and a representative's authority)."""

    model_config = ConfigDict(extra="forbid")
    method: Literal["signed_document", "mobile_phone", "sms", "email", "in_person", "power_of_attorney"]
    evidence_ref: str = Field(min_length=1, max_length=500, description="Where the evidence is kept (scan id, verification transaction id)")
    representative_checked: bool = Field(default=False, description="The representative's authority (family relation certificate, power of attorney) was checked")
    subject_id: SubjectId | None = Field(default=None, description="The clinic's id of the subject, if it was not known")
    note: str | None = Field(default=None, max_length=2000)


class JoinGuardian(BaseModel):
    """A legal representative joins a child's own request."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    contact: str = Field(min_length=1, max_length=200)
    relationship_detail: str = Field(min_length=1, max_length=100, examples=["mother"])


class Decide(BaseModel):
    """Approve a request, or refuse it on a legal ground of the clinic's law."""

    model_config = ConfigDict(extra="forbid")
    decision: Literal["approve", "reject"]
    ground: RefusalGround | None = Field(default=None, validate_default=True, description=(
        "Required to reject: the legal ground, one the clinic's law gives for this type of request "
        "(GET /v1/legal-grounds)."))
    legal_ground: str | None = Field(default=None, max_length=2000,
                                     description="Free text beside the ground: how it applies to this request.")
    late_reason: str | None = LateReason
    note: str | None = Field(default=None, max_length=2000)

    @field_validator("ground")
    @classmethod
    def _ground_for_rejection(cls, ground: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("decision") == "reject" and not ground:
            raise ValueError("ground is required to reject a request: a legal ground from the list "
                             "(PIPA 35(4), 36(1), 37(2); Decree 42-44)")
        return ground


class Extend(BaseModel):
    """Extend the deadline once, on a legal ground, with the reason told to the requester."""

    model_config = ConfigDict(extra="forbid")
    ground: ExtensionGround = Field(description="The legal ground of the clinic's law (GET /v1/legal-grounds).")
    reason: str = Field(min_length=1, max_length=2000, description="Free text beside the ground, told to the requester.")
    late_reason: str | None = LateReason


class Answer(BaseModel):
    """The privacy manager's answer to a complaint (PIPA 31), shown to the requester as its result."""

    model_config = ConfigDict(extra="forbid")
    answer: str = Field(min_length=1, max_length=10_000)


class GroundListed(BaseModel):
    id: str
    citation: str
    texts: dict[str, str]
    types: list[RequestType] = Field(default=[], description="A refusal ground: the request types it may refuse.")


class RemedyListed(BaseModel):
    id: str
    law: Jurisdiction
    names: dict[str, str]
    phone: str | None
    url: str | None


class LegalGrounds(BaseModel):
    """The grounds the clinic's law gives to refuse a request or extend its deadline, and the remedies
    outside the clinic (a request also gets those of the person's own law)."""

    law: Jurisdiction
    refusals: list[GroundListed]
    extensions: list[GroundListed]
    remedies: list[RemedyListed]


class Withdraw(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str | None = Field(default=None, max_length=2000)
