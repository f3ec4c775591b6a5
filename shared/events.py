"""The event catalogue: every topic and every event type the services exchange.

These models are the public contract that clinic systems code against; ``docs/asyncapi.yaml`` is
generated from them (``make asyncapi``) and a test fails when the two disagree. Each model is the
``data`` of a CloudEvent whose ``type`` is the model's ``event_type``; its docstring says when the
event is sent. Events about a person are keyed on Kafka by ``subject_id`` so that one person's
events stay in order.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field


class Topic(StrEnum):
    consent_inbound = "consent.inbound"
    consent_events = "consent.events"
    dsr_events = "dsr.events"
    dead_letter = "privacy.dead-letter"


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
        "Lifecycle of data-subject requests and processing holds, published by the request "
        "service. Structured CloudEvents keyed by subject_id."
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
SubjectId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:@-]+$")]
PurposeId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")]


class EventData(BaseModel):
    """Base of every event's ``data``: unknown fields are refused, so a typo is an error."""

    model_config = ConfigDict(extra="forbid")

    event_type: ClassVar[str]
    topic: ClassVar[Topic]

    def kafka_key(self) -> str:
        return getattr(self, "subject_id")


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
    subject_birth_date: date | None = Field(
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
    occurred_at: datetime
    recorded_at: datetime
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
    effective_at: datetime
    published_at: datetime
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
    placed_at: datetime


class SubjectHoldReleased(EventData):
    """A hold placed earlier is lifted; processing may resume if no other hold remains."""

    topic: ClassVar[Topic] = Topic.dsr_events
    event_type: ClassVar[str] = "subject.hold.released"

    subject_id: SubjectId
    hold_id: str = Field(min_length=1, max_length=64)
    request_id: str = Field(min_length=1, max_length=64)
    released_at: datetime


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
)


def model_for(topic: Topic | str, event_type: str) -> type[EventData] | None:
    for model in CATALOGUE:
        if model.topic == topic and model.event_type == event_type:
            return model
    return None


def types_on(topic: Topic | str) -> list[str]:
    return [m.event_type for m in CATALOGUE if m.topic == topic]
