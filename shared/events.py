"""The event catalogue: every topic and every event type the services exchange.

These models are the public contract that clinic systems code against; ``docs/asyncapi.yaml`` is
generated from them (``make asyncapi``) and a test fails when the two disagree. Each model is the
``data`` of a CloudEvent whose ``type`` is the model's ``event_type``; its docstring says when the
event is sent, and its ``example`` (written in ``shared/event_examples.py``) shows one. Events about
a person are keyed on Kafka by ``subject_id`` so that one person's events stay in order.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator

from shared.dates import Day, Timestamp
from shared.event_examples import EXAMPLES, EventExample


class Topic(StrEnum):
    consent_inbound = "consent.inbound"
    consent_events = "consent.events"
    dsr_events = "dsr.events"
    dsr_tasks = "dsr.tasks"
    dsr_task_results = "dsr.task-results"
    dsr_systems = "dsr.systems"
    dead_letter = "privacy.dead-letter"


#: The topics clinic systems produce to: each record signed by the system (``shared/recordsig.py``).
SIGNED_TOPICS: frozenset[Topic] = frozenset({Topic.consent_inbound, Topic.dsr_task_results})
#: The topics only the services write: each record signed by the services (``shared/servicesig.py``).
SERVICE_TOPICS: frozenset[Topic] = frozenset(set(Topic) - SIGNED_TOPICS)


TOPIC_DESCRIPTIONS: dict[Topic, str] = {
    Topic.consent_inbound: (
        "Consent events from clinic systems (EMR, reservations, website, model-application form, "
        "CRM). CloudEvents in structured or binary content mode, keyed by subject_id. Consumed by "
        "the consent service."
    ),
    Topic.consent_events: (
        "Every consent event the consent service recorded, and every policy version it published. "
        "Structured CloudEvents, keyed by subject_id (policies by policy_id). Carries no names, "
        "contacts or birth dates."
    ),
    Topic.dsr_events: (
        "Lifecycle of data-subject requests, processing holds and the commands the consent service "
        "acts on, published by the request service; and the breach register's clock (breach.*: "
        "counts, data categories and times, never a person). Structured CloudEvents keyed by "
        "subject_id (request events by request_id until the subject is identified; breach events "
        "by breach_id)."
    ),
    Topic.dsr_tasks: (
        "Work a data-subject request fans out to each clinic system (export, erase, rectify, "
        "restrict, lift), one task per system, keyed by subject_id. Each system reads the tasks "
        "whose data.system_id is its own and answers on dsr.task-results. A task is re-sent "
        "(same task_id, higher attempt) when unanswered: systems must treat it idempotently. "
        "Personal data (a rectification's corrections) travels only in data.sealed, a compact JWE "
        "(dir, A256GCM) sealed for that one system: its key is given to the system for its own "
        "open task (POST /v1/tasks/{task_id}/key) and is destroyed with the subject's keys when "
        "their erasure is approved."
    ),
    Topic.dsr_task_results: (
        "Clinic systems' answers to dsr.tasks (or POST /v1/tasks/{task_id}/result): what was "
        "exported, erased, corrected, restricted or kept by law. Keyed by subject_id. Send the "
        "personal part (exported, retained, note) sealed in data.sealed (ECDH-ES, A256GCM) to the "
        "subject's public key (POST /v1/subjects/{subject_id}/transit-key on the consent service), "
        "which only the services can open; an answer in the clear is still accepted, but stays "
        "readable in the topic's history until its retention ends."
    ),
    Topic.dsr_systems: (
        "The clinic systems the request service knows and the keys issued to them: the whole state "
        "of a system (keyed by system_id) or of a key (keyed by key_id, which no system id can equal) "
        "at each change, so the topic can be compacted and a new consumer read it from the start. Keys travel only "
        "as their SHA-256. Each event carries the extension attribute dongsig, an HMAC the request "
        "service signs it with; the consent service and the notifier apply only signed events "
        "(others are dead-lettered), and authenticate clinic systems with them."
    ),
    Topic.dead_letter: (
        "Messages a consumer could not process: the original value, key and headers, plus the "
        "headers dongui-dlq-reason, dongui-dlq-topic, dongui-dlq-partition, dongui-dlq-offset, "
        "dongui-dlq-consumer and dongui-dlq-at. The reason is written for a person to read."
    ),
}

Language = Literal["ko", "en", "vi"]
Jurisdiction = Literal["KR", "VN", "EU"]
CollectionMethod = Literal["web", "paper", "phone", "email", "kiosk"]
#: What a subject id may be: clinic systems' own ids (letters, digits and ``. _ : @ -``).
SUBJECT_ID_PATTERN = r"^[A-Za-z0-9._:@-]+$"
SUBJECT_ID_MAX_LENGTH = 128
SubjectId = Annotated[str, Field(min_length=1, max_length=SUBJECT_ID_MAX_LENGTH, pattern=SUBJECT_ID_PATTERN)]
PurposeId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")]
ShortId = Annotated[str, Field(min_length=1, max_length=64)]


class EventData(BaseModel):
    """Base of every event's ``data``: unknown fields are refused, so a typo is an error."""

    model_config = ConfigDict(extra="forbid")

    event_type: ClassVar[str]
    topic: ClassVar[Topic]
    #: One event of this very model (not inherited), for docs/asyncapi.yaml and the tests: set on
    #: each model of :data:`CATALOGUE` from ``shared/event_examples.py`` when this module loads.
    example: ClassVar[EventExample]

    def kafka_key(self) -> str:
        """The Kafka key and CloudEvent ``subject``: the subject; a model without one overrides it."""
        key: str = getattr(self, "subject_id")  # noqa: B009 (declared by the subclasses, not here)
        return key


# --- consent.inbound: what clinic systems send ------------------------------------------------


class SelfActor(BaseModel):
    """The data subject acted for themselves."""

    model_config = ConfigDict(extra="forbid")
    role: Literal["self"]


class RepresentativeActor(BaseModel):
    """A legal representative (parent, guardian) acted for the subject."""

    model_config = ConfigDict(extra="forbid")
    role: Literal["legal_representative"]
    name: str = Field(min_length=1, max_length=200)
    relationship: str = Field(min_length=1, max_length=100, examples=["mother", "father", "guardian"])
    contact: str | None = Field(default=None, max_length=200)


Actor = Annotated[SelfActor | RepresentativeActor, Field(discriminator="role")]


class ConsentEventData(EventData):
    """One person's decision about one purpose, as a clinic system saw it.

    One event is one purpose: there is no list of purposes, so bundled consent cannot be expressed.
    """

    topic: ClassVar[Topic] = Topic.consent_inbound

    subject_id: SubjectId
    subject_birth_date: Day | None = Field(
        default=None, description="Needed for a grant: the age rule of the jurisdiction applies."
    )
    purpose: PurposeId
    policy_id: str = Field(min_length=1, max_length=64)
    policy_version: str = Field(min_length=1, max_length=32)
    language: Language = Field(description="The language of the notice the person saw.")
    method: CollectionMethod
    actor: Actor
    evidence: dict[str, Any] = Field(
        default_factory=dict,
        description="How the decision was captured: form id, IP address, user agent, paper scan id.",
    )
    jurisdiction: Jurisdiction = "KR"


class SealedConsentEventData(BaseModel):
    """A consent event whose personal fields (``subject_birth_date``, ``actor``, ``evidence``, or
    any other but ``subject_id``) travel sealed to the subject's public key: ``sealed`` is a
    compact JWE (``alg: ECDH-ES``, ``enc: A256GCM``, ``kid``: the subject id) of a JSON object of
    those fields (see ``shared/sealing.py``), which no clinic system can open, not even the one
    that sealed it. Once opened, the event must be a valid ConsentEventData."""

    model_config = ConfigDict(extra="allow")

    subject_id: SubjectId
    sealed: str = Field(min_length=1, max_length=2 * 1024 * 1024,
                        description="Compact JWE (ECDH-ES, A256GCM) of the personal fields, to the public key from "
                                    "POST /v1/subjects/{subject_id}/transit-key.")


def _clear_or_sealed(value: Any) -> str:
    sealed = (isinstance(value, dict) and "sealed" in value) or isinstance(value, SealedConsentEventData)
    return "(sealed)" if sealed else "(clear)"


#: ``data`` of an incoming consent event: every field in the clear, or the personal ones sealed.
IncomingConsentData = Annotated[
    Annotated[ConsentEventData, Tag("(clear)")] | Annotated[SealedConsentEventData, Tag("(sealed)")],
    Discriminator(_clear_or_sealed),
]


class ConsentGranted(ConsentEventData):
    """A person (or their legal representative) gave consent to one purpose."""

    event_type: ClassVar[str] = "consent.granted"


class ConsentDeclined(ConsentEventData):
    """A person was asked and said no. Silence or a time-out is never sent as consent."""

    event_type: ClassVar[str] = "consent.declined"


class ConsentWithdrawn(ConsentEventData):
    """A person withdrew a consent they had given. Takes effect at once."""

    event_type: ClassVar[str] = "consent.withdrawn"


# --- consent.events: what the consent service recorded ----------------------------------------


class RecordedConsent(EventData):
    """Base of the recorded forms below: the ledger row without personal data."""

    topic: ClassVar[Topic] = Topic.consent_events

    record_id: str
    subject_id: SubjectId
    sequence: int = Field(description="Position in this subject's ledger, from 1; drop stale events.")
    purpose: PurposeId
    decision: Literal["granted", "declined", "withdrawn"]
    policy_id: str
    policy_version: str
    language: Language
    notice_hash: str = Field(description="SHA-256 of the notice text in that language.")
    method: CollectionMethod
    actor_role: Literal["self", "legal_representative"]
    jurisdiction: Jurisdiction
    occurred_at: Timestamp
    recorded_at: Timestamp
    source_event_id: str
    source: str
    record_hash: str = Field(description="This record's link in the subject's hash chain.")


class ConsentGrantRecorded(RecordedConsent):
    """The consent service recorded a grant (published on consent.events as consent.granted)."""

    event_type: ClassVar[str] = "consent.granted"
    decision: Literal["granted"]


class ConsentDeclineRecorded(RecordedConsent):
    """The consent service recorded a refusal (published on consent.events as consent.declined)."""

    event_type: ClassVar[str] = "consent.declined"
    decision: Literal["declined"]


class ConsentWithdrawalRecorded(RecordedConsent):
    """The consent service recorded a withdrawal (published on consent.events as consent.withdrawn)."""

    event_type: ClassVar[str] = "consent.withdrawn"
    decision: Literal["withdrawn"]


class PolicyPublished(EventData):
    """A privacy-notice version was published; it takes effect at ``effective_at``."""

    topic: ClassVar[Topic] = Topic.consent_events
    event_type: ClassVar[str] = "policy.published"

    policy_id: str
    version: str
    effective_at: Timestamp
    published_at: Timestamp
    published_by: str
    purposes: list[str]
    text_hashes: dict[str, str] = Field(description="SHA-256 of the text, per language.")

    def kafka_key(self) -> str:
        return self.policy_id


# --- dsr.events: processing holds (published by the request service) --------------------------


class SubjectHoldPlaced(EventData):
    """Processing of a subject's data must stop (a correction is pending, or restriction asked)."""

    topic: ClassVar[Topic] = Topic.dsr_events
    event_type: ClassVar[str] = "subject.hold.placed"

    subject_id: SubjectId
    hold_id: str = Field(min_length=1, max_length=64)
    request_id: str = Field(min_length=1, max_length=64)
    reason: Literal["rectification", "restriction"]
    placed_at: Timestamp


class SubjectHoldReleased(EventData):
    """A hold placed earlier is lifted; processing may resume if no other hold remains."""

    topic: ClassVar[Topic] = Topic.dsr_events
    event_type: ClassVar[str] = "subject.hold.released"

    subject_id: SubjectId
    hold_id: str = Field(min_length=1, max_length=64)
    request_id: str = Field(min_length=1, max_length=64)
    released_at: Timestamp


# --- dsr.events: the request lifecycle -------------------------------------------------------

RequestType = Literal[
    "access", "rectification", "erasure", "restriction", "consent_withdrawal",
    "membership_withdrawal", "objection", "complaint",
]
RequestStatus = Literal[
    "received", "verifying", "in_review", "approved", "in_progress", "completed",
    "partially_completed", "rejected", "withdrawn",
]


class RequestEvent(EventData):
    """Base of the request lifecycle events. No names, contacts or birth dates: a reference."""

    topic: ClassVar[Topic] = Topic.dsr_events

    request_id: ShortId
    reference: ShortId = Field(description="The human-friendly reference the requester was given.")
    type: RequestType
    jurisdiction: Jurisdiction
    language: Language
    status: RequestStatus
    subject_id: SubjectId | None = Field(default=None, description="Null until the subject is identified.")
    by_guardian: bool = Field(description="Filed by a legal representative for a child.")
    child_own_request: bool = Field(description="Filed by a child who needs a legal representative.")
    due_at: Timestamp
    occurred_at: Timestamp

    def kafka_key(self) -> str:
        return self.subject_id or self.request_id


class RequestReceived(RequestEvent):
    """A request was filed (portal, or entered by staff for a phone, paper or email request)."""

    event_type: ClassVar[str] = "request.received"
    channel: Literal["portal", "phone", "paper", "email", "in_person"]
    waiting_for: list[str] = Field(description="What is still needed, e.g. guardian, verification.")
    objects_to: str | None = Field(default=None, description="For an objection: the request it objects to.")
    acknowledge_by: Timestamp | None = Field(default=None, description=(
        "When it must be acknowledged (Vietnam: 2 working days); null when no law applying asks it."))


class RequestVerified(RequestEvent):
    """The requester's identity (and a representative's authority) was verified; a decision is due."""

    event_type: ClassVar[str] = "request.verified"
    method: str


class RequestApproved(RequestEvent):
    """The privacy manager approved the request; its tasks go out to the clinic systems."""

    event_type: ClassVar[str] = "request.approved"
    decided_by: str


class RequestRejected(RequestEvent):
    """The request was refused, on a legal ground; the requester may object, or turn to the
    remedies outside the clinic."""

    event_type: ClassVar[str] = "request.rejected"
    decided_by: str
    ground: str | None = Field(default=None, description=(
        "The legal ground's id (shared/rules/grounds.yaml, where its words are in ko/en/vi); null on "
        "refusals made before grounds were listed."))
    legal_ground: str = Field(description="The ground's citation and words, with the manager's free text.")
    remedies: list[str] = Field(default=[], description=(
        "Ids of the remedies outside the clinic the requester is told of (shared/rules/grounds.yaml)."))


class RequestExtended(RequestEvent):
    """The deadline was extended once, on a legal ground, with a reason told to the requester."""

    event_type: ClassVar[str] = "request.extended"
    previous_due_at: Timestamp
    ground: str | None = Field(default=None, description=(
        "The legal ground's id (shared/rules/grounds.yaml); null on extensions made before grounds were listed."))
    reason: str


class RequestCompleted(RequestEvent):
    """Every task answered: the request is completed, or partially (something kept by law)."""

    event_type: ClassVar[str] = "request.completed"
    outcome: Literal["completed", "partially_completed"]


class RequestWithdrawn(RequestEvent):
    """The requester withdrew the request."""

    event_type: ClassVar[str] = "request.withdrawn"


class RequestDeadlineApproaching(RequestEvent):
    """Half, then four fifths, of the time to the deadline has passed with the request open."""

    event_type: ClassVar[str] = "request.deadline_approaching"
    threshold: Literal[50, 80]


class RequestOverdue(RequestEvent):
    """The deadline passed with the request still open."""

    event_type: ClassVar[str] = "request.overdue"


class RequestTaskUnanswered(RequestEvent):
    """A clinic system did not answer a task, even after it was re-sent."""

    event_type: ClassVar[str] = "request.task_unanswered"
    task_id: ShortId
    system_id: ShortId
    attempts: int = Field(ge=1)


#: What a request waits for from its requester, by code (no free text: a message says it in words).
InformationNeeded = Literal["identity_document", "proof_of_representation", "power_of_attorney", "clarification"]


class RequestInformationNeeded(RequestEvent):
    """Staff need something more from the requester before the request can go on: its code only."""

    event_type: ClassVar[str] = "request.information_needed"
    needed: InformationNeeded
    asked_by: str


class RequestAcknowledged(RequestEvent):
    """The clinic acknowledged the request (Vietnam: within 2 working days of receiving it), when
    the requester was told it was received, or as staff recorded."""

    event_type: ClassVar[str] = "request.acknowledged"
    acknowledge_by: Timestamp
    acknowledged_at: Timestamp
    acknowledged_via: Literal["email", "sms", "staff"]


class RequestAcknowledgementOverdue(RequestEvent):
    """The date by which the request had to be acknowledged passed, and it was not."""

    event_type: ClassVar[str] = "request.acknowledgement_overdue"
    acknowledge_by: Timestamp


class SubjectErasureApproved(EventData):
    """An erasure was approved: the consent service destroys the subject's key and keeps only the
    de-identified ledger (purposes, times, hashes) as evidence that consent existed."""

    topic: ClassVar[Topic] = Topic.dsr_events
    event_type: ClassVar[str] = "subject.erasure.approved"

    subject_id: SubjectId
    request_id: ShortId
    approved_at: Timestamp


class SubjectConsentWithdrawalRequested(EventData):
    """A person asked, through a request, to withdraw consent (or membership): the consent service
    records a withdrawal for each purpose listed (every purpose granted, when ``purposes`` is null)."""

    topic: ClassVar[Topic] = Topic.dsr_events
    event_type: ClassVar[str] = "subject.consent_withdrawal.requested"

    subject_id: SubjectId
    request_id: ShortId
    purposes: list[PurposeId] | None = Field(description="Required; null means every purpose granted.")
    actor_role: Literal["self", "legal_representative"]
    method: CollectionMethod
    requested_at: Timestamp


# --- dsr.events: the breach register (published by the request service) -----------------------

BreachOutstanding = Literal["people", "regulator"]


class BreachEvent(EventData):
    """Base of the breach events: the register's facts about a leak and its 72-hour clock (PIPA
    Art. 34). Never a person: no subject id, name or contact, and none of the free text staff
    wrote about the case (it stays in the request service, one click away). Keyed by breach_id."""

    topic: ClassVar[Topic] = Topic.dsr_events

    breach_id: ShortId
    reference: ShortId = Field(description="The register's reference, e.g. BR-2026-K7M2P.")
    status: Literal["open", "closed"]
    occurred_at: Timestamp | None = Field(description="When the leak happened; null while unknown.")
    discovered_at: Timestamp = Field(description="When the clinic learned of it: the clock starts.")
    notify_by: Timestamp = Field(description="discovered_at + 72 hours.")
    subject_count: int | None = Field(ge=0, description="How many people are affected; null while unknown.")
    data_categories: list[str] = Field(description="The kinds of information leaked (shared/rules/breaches.py).")
    sensitive: bool
    unique_identifiers: bool
    external_access: bool = Field(description="The leak came from unlawful access from outside (hacking).")
    regulator_required: bool
    regulator_reasons: list[Literal["people", "sensitive", "unique_identifiers", "external_access"]]
    people_told: int = Field(ge=0, description="How many people were recorded as told so far.")
    outstanding: list[BreachOutstanding] = Field(description="Who is still to be told.")
    at: Timestamp = Field(description="When this event happened.")

    def kafka_key(self) -> str:
        return self.breach_id


class BreachRecorded(BreachEvent):
    """Staff recorded a suspected leak: its 72-hour clock started at discovered_at."""

    event_type: ClassVar[str] = "breach.recorded"


class BreachUpdated(BreachEvent):
    """What is known about a leak changed (the number of people, the data, the cause…); whether
    the regulator must be told is decided again."""

    event_type: ClassVar[str] = "breach.updated"
    changed: list[str] = Field(description="The fields that changed.")


class BreachDeadlineApproaching(BreachEvent):
    """24, then 48, hours passed since the leak was discovered with someone still to be told."""

    event_type: ClassVar[str] = "breach.deadline_approaching"
    hours_elapsed: Literal[24, 48]


class BreachOverdue(BreachEvent):
    """The 72 hours are up and the people, or the regulator, are not recorded as told."""

    event_type: ClassVar[str] = "breach.overdue"


class BreachPeopleNotified(BreachEvent):
    """The privacy manager recorded that people affected were told: when, how many, how."""

    event_type: ClassVar[str] = "breach.people_notified"
    notified_at: Timestamp
    count: int = Field(ge=1)
    channels: list[str]


class BreachRegulatorReported(BreachEvent):
    """The privacy manager recorded the report to the regulator."""

    event_type: ClassVar[str] = "breach.regulator_reported"
    reported_at: Timestamp
    regulator: Literal["PIPC", "KISA"]


class BreachClosed(BreachEvent):
    """The privacy manager closed the breach: handled (everyone required was told), or found not
    to be a leak after all."""

    event_type: ClassVar[str] = "breach.closed"
    outcome: Literal["handled", "not_a_breach"]


# --- dsr.events: destruction (published by the request service) ------------------------------


#: What made data go: a consent withdrawal, a membership withdrawal, or the end of a retention period.
DestructionTrigger = Literal["consent_withdrawal", "membership_withdrawal", "retention_expired"]


class DestructionEvent(EventData):
    """Base of the destruction events: a destruction's facts, never the data (ids, codes of the
    catalogues, times). Keyed by the subject."""

    topic: ClassVar[Topic] = Topic.dsr_events

    destruction_id: ShortId
    reference: ShortId = Field(description="The destruction log's reference, e.g. DST-2026-K7M2P.")
    subject_id: SubjectId
    trigger: DestructionTrigger
    purposes: list[PurposeId]
    categories: list[str]
    classes: list[str]
    due_at: Timestamp = Field(description="Every holding system must have confirmed by then.")
    at: Timestamp = Field(description="When this event happened.")


class RetentionExpired(DestructionEvent):
    """A retention period ended (or a withdrawal took away the only ground to keep the data):
    destroy tasks went to the systems holding it."""

    event_type: ClassVar[str] = "retention.expired"
    systems: list[ShortId] = Field(description="The systems sent a destroy task.")


class DataDestroyed(DestructionEvent):
    """A system confirmed it destroyed what a destruction asked of it."""

    event_type: ClassVar[str] = "data.destroyed"
    system_id: ShortId
    outcome: Literal["done", "partially_done", "no_data", "failed"]
    erased: list[str] = Field(description="The categories the system destroyed.")


class DestructionOverdue(DestructionEvent):
    """The destruction's time passed and some systems have not confirmed it: told once."""

    event_type: ClassVar[str] = "data.destruction_overdue"
    outstanding: list[ShortId] = Field(description="The systems that have not confirmed.")


# --- dsr.tasks and dsr.task-results: work for the clinic systems ------------------------------


class TaskData(EventData):
    """Base of every task: which system, for which request and subject, answer by when."""

    topic: ClassVar[Topic] = Topic.dsr_tasks

    task_id: ShortId
    request_id: ShortId
    reference: ShortId
    system_id: ShortId
    subject_id: SubjectId
    jurisdiction: Jurisdiction
    attempt: int = Field(ge=1, description="1, then higher when the task is re-sent.")
    due_at: Timestamp


class ExportTask(TaskData):
    """Export what the system holds about the subject (an access request)."""

    event_type: ClassVar[str] = "dsr.task.export"


class LegalPurpose(BaseModel):
    """A ``restrict-to-legal-purpose`` instruction: what the system keeps of ``retention_class`` in
    answer to this task is kept only because the law cited requires it (PIPA Art. 21(3))."""

    model_config = ConfigDict(extra="forbid")
    retention_class: str
    citation: str


#: What a ``restrict_to_legal_purpose`` list asks of a system, as its field's description says it.
RESTRICT_TO_LEGAL_PURPOSE = (
    "restrict-to-legal-purpose: what the system keeps of these classes in answer to this task (its "
    "retained) is kept only because the law cited requires it (PIPA Art. 21(3)): store it apart from "
    "the rest, use it and let it be read only for that legal purpose, and destroy it when its period "
    "ends (a destroy task then comes)."
)


class EraseTask(TaskData):
    """Erase the subject's data, except what a law makes the system keep for now.

    ``retain_classes``: retention classes to keep while within their legal period (answer what
    was kept in ``retained``). ``categories``: only these data categories (all when null).
    ``restrict_to_legal_purpose``: what is kept of those classes must be kept apart, for the law's
    purpose only (the citation says which law).
    """

    event_type: ClassVar[str] = "dsr.task.erase"
    retain_classes: list[str]
    categories: list[str] | None = None
    restrict_to_legal_purpose: list[LegalPurpose] = Field(default=[], description=RESTRICT_TO_LEGAL_PURPOSE)


class Correction(BaseModel):
    model_config = ConfigDict(extra="forbid")
    item: str = Field(min_length=1, max_length=200)
    current: str | None = Field(default=None, max_length=2000)
    corrected: str = Field(min_length=1, max_length=2000)


class RectifyTask(TaskData):
    """Correct the subject's data. For ``amend_classes`` (medical records) keep the original and
    add an amendment (Medical Service Act 22(2)).

    The request service sends the corrections sealed: ``sealed`` is a compact JWE (``alg: dir``,
    ``enc: A256GCM``, ``kid``: the subject id) whose plaintext is ``{"corrections": [...]}``,
    under this system's task key for the subject (``POST /v1/tasks/{task_id}/key`` on the request
    service, given for the system's own open task only; ``shared/sealing.py``). Open it and
    validate the result as this model with ``corrections`` in place of ``sealed``. Exactly one of
    the two is given. A 410 from that endpoint means the subject was erased: the corrections can
    never be read.
    """

    event_type: ClassVar[str] = "dsr.task.rectify"
    corrections: list[Correction] | None = Field(
        default=None, description="In the clear only from senders that do not seal; otherwise inside sealed.")
    sealed: str | None = Field(
        default=None, min_length=1, max_length=2 * 1024 * 1024,
        description="Compact JWE of {\"corrections\": [...]} under this system's task key (POST /v1/tasks/{task_id}/key).")
    amend_classes: list[str]

    @model_validator(mode="after")
    def _corrections_clear_or_sealed(self) -> RectifyTask:
        if (self.corrections is None) == (self.sealed is None):
            raise ValueError("give exactly one of corrections (in the clear) and sealed")
        return self


class RestrictTask(TaskData):
    """Stop processing the subject's data (keep it) until a lift task arrives."""

    event_type: ClassVar[str] = "dsr.task.restrict"


class LiftTask(TaskData):
    """Processing of the subject's data may resume."""

    event_type: ClassVar[str] = "dsr.task.lift"


class KeptItem(BaseModel):
    """What a destruction leaves in place, and why: a data category another purpose still in force
    uses, or a retention class a law (or a purpose still in force) keeps. Never the data itself."""

    model_config = ConfigDict(extra="forbid")
    category: str | None = None
    retention_class: str | None = None
    because: str = Field(description="The purpose still in force (e.g. treatment), or the retention class's law.")
    citation: str = Field(description="The law or policy that keeps it.")


class DestroyTask(TaskData):
    """Destroy, irrecoverably, what the clinic may no longer keep of the subject (PIPA Art. 21):
    after a consent (or membership) withdrawal, what only that consent justified; when a retention
    period ends, the class whose period ended.

    Destroy the subject's records whose data category is in ``categories`` or whose retention class
    is in ``classes``, except those of ``retain_classes`` still within their legal period (answer
    them in ``retained``, as for an erase). ``kept`` says what is deliberately left and why (no
    action). Answer like any task: ``done`` (all destroyed), ``partially_done`` (some kept, in
    ``retained``), ``no_data``; ``erased``: the categories destroyed. A destroy task is not a
    person's request: ``request_id`` and ``reference`` are those of the destruction (e.g.
    ``DST-2026-K7M2P``), as the destruction log shows them. Its ``note`` is kept as evidence: no
    personal data in it.
    """

    event_type: ClassVar[str] = "dsr.task.destroy"
    trigger: DestructionTrigger
    purposes: list[PurposeId] = Field(description="The purposes withdrawn (empty when a period ended).")
    categories: list[str] = Field(description="Data categories to destroy.")
    classes: list[str] = Field(description="Retention classes to destroy.")
    retain_classes: list[str] = Field(description="Classes to keep while within their legal period.")
    kept: list[KeptItem] = Field(description="What is left on purpose, and why.")
    rule: str = Field(description="The rule that makes the data go, cited.")
    restrict_to_legal_purpose: list[LegalPurpose] = Field(default=[], description=RESTRICT_TO_LEGAL_PURPOSE)


class ExportItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    category: str
    items: dict[str, Any] | list[Any]
    purposes: list[str] = []
    retention_class: str | None = None
    recipients: list[str] = []


class RetainedItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    category: str
    retention_class: str
    until: Day | None = None


class TaskResult(EventData):
    """A clinic system's answer to one task.

    Seal the personal part: put ``exported``, ``retained`` and ``note`` (any of them) in
    ``sealed``, a compact JWE (``alg: ECDH-ES``, ``enc: A256GCM``, ``kid``: the subject id) of a
    JSON object of those fields, to the subject's public key (``POST
    /v1/subjects/{subject_id}/transit-key`` on the consent service), and leave them out of the
    clear part. No system can open it again, nor can any other. The request service opens it and keeps it sealed under the request's own key.
    When that endpoint answers 410 the subject was erased: send no personal data in the clear
    (an erase answer's categories, classes and dates only). An answer wholly in the clear is
    accepted too, but then stays readable in the topic's history until its retention ends.
    """

    topic: ClassVar[Topic] = Topic.dsr_task_results
    event_type: ClassVar[str] = "dsr.task.result"

    task_id: ShortId
    request_id: ShortId
    system_id: ShortId
    subject_id: SubjectId
    outcome: Literal["done", "partially_done", "no_data", "failed"]
    exported: list[ExportItem] = []
    erased: list[str] = Field(default=[], description="Categories erased.")
    retained: list[RetainedItem] = Field(default=[], description="What the law made the system keep.")
    note: str | None = Field(default=None, max_length=2000)
    sealed: str | None = Field(
        default=None, min_length=1, max_length=2 * 1024 * 1024,
        description="Compact JWE of the personal fields (exported, retained, note) under the subject's transit key.")

    #: The fields that may travel inside ``sealed``.
    SEALABLE: ClassVar[frozenset[str]] = frozenset({"exported", "erased", "retained", "note"})


# --- dsr.systems: clinic systems and their keys (published by the request service) -------------


class SystemChanged(EventData):
    """A clinic system was registered, updated or retired: its whole state now."""

    topic: ClassVar[Topic] = Topic.dsr_systems
    event_type: ClassVar[str] = "system.changed"

    system_id: str = Field(min_length=1, max_length=64)
    source: str | None = Field(description="The CloudEvents source it publishes consent events as.")
    purposes: list[str] = Field(description="The purposes it may check permissions for.")
    rights: list[str] = Field(description="Rights beyond a system's defaults (consent_history).")
    retired_at: Timestamp | None = Field(description="When it was retired: its keys work no more.")
    updated_at: Timestamp

    def kafka_key(self) -> str:
        return self.system_id


class SystemKeyChanged(EventData):
    """A key was issued to a clinic system, or revoked: its whole state now (never the key; its
    signing key only encrypted for the services)."""

    topic: ClassVar[Topic] = Topic.dsr_systems
    event_type: ClassVar[str] = "system.key-changed"

    key_id: str = Field(min_length=1, max_length=64, description="'key.' and hex digits: never a system id.")
    system_id: str = Field(min_length=1, max_length=64)
    name: str
    key_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    created_at: Timestamp
    expires_at: Timestamp | None
    revoked_at: Timestamp | None
    encrypted_signing_key: str | None = Field(
        default=None, max_length=200,
        description="The key's signing key (what checks the Kafka records the system signs, header "
                    "`dongui-signature`), AES-256-GCM encrypted under a key derived from "
                    "DONGUI_DELEGATION_SECRET (known to the services only), base64url: the 12-byte nonce, "
                    "then the ciphertext. Absent once the key is revoked, and for keys issued before "
                    "records were signed.")

    def kafka_key(self) -> str:
        return self.key_id  # "key." and hex: never a system id (no dot), so compaction keeps both


#: Every event model, by topic, then by type. The AsyncAPI document is generated from this.
CATALOGUE: tuple[type[EventData], ...] = (
    ConsentGranted,
    ConsentDeclined,
    ConsentWithdrawn,
    ConsentGrantRecorded,
    ConsentDeclineRecorded,
    ConsentWithdrawalRecorded,
    PolicyPublished,
    SubjectHoldPlaced,
    SubjectHoldReleased,
    RequestReceived,
    RequestVerified,
    RequestApproved,
    RequestRejected,
    RequestExtended,
    RequestCompleted,
    RequestWithdrawn,
    RequestDeadlineApproaching,
    RequestOverdue,
    RequestTaskUnanswered,
    RequestInformationNeeded,
    RequestAcknowledged,
    RequestAcknowledgementOverdue,
    SubjectErasureApproved,
    SubjectConsentWithdrawalRequested,
    BreachRecorded,
    BreachUpdated,
    BreachDeadlineApproaching,
    BreachOverdue,
    BreachPeopleNotified,
    BreachRegulatorReported,
    BreachClosed,
    RetentionExpired,
    DataDestroyed,
    DestructionOverdue,
    ExportTask,
    EraseTask,
    RectifyTask,
    RestrictTask,
    LiftTask,
    DestroyTask,
    TaskResult,
    SystemChanged,
    SystemKeyChanged,
)


for _model in CATALOGUE:
    if _model.__name__ in EXAMPLES:  # a model without one is refused by shared.asyncapi, not here
        _model.example = EXAMPLES[_model.__name__]
del _model


def model_for(topic: Topic | str, event_type: str) -> type[EventData] | None:
    for model in CATALOGUE:
        if model.topic == topic and model.event_type == event_type:
            return model
    return None


def types_on(topic: Topic | str) -> list[str]:
    return [m.event_type for m in CATALOGUE if m.topic == topic]
