"""HTTP request and response bodies of the consent service."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.cloudevents import CloudEvent
from shared.dates import Timestamp
from shared.events import IncomingConsentData, Language


class PolicyTexts(BaseModel):
    """The notice in each language a clinic's patients read; all three are required."""

    model_config = ConfigDict(extra="forbid")
    ko: str = Field(min_length=1, max_length=200_000)
    en: str = Field(min_length=1, max_length=200_000)
    vi: str = Field(min_length=1, max_length=200_000)


class PublishPolicy(BaseModel):
    """Publish a version of a privacy notice (command)."""

    model_config = ConfigDict(extra="forbid")
    policy_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    version: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9._-]+$")
    effective_at: Timestamp = Field(description="When it takes effect; a later version: 7+ days after publishing")
    texts: PolicyTexts
    purposes: list[str] = Field(min_length=1, max_length=100)

    @field_validator("purposes")
    @classmethod
    def _distinct(cls, purposes: list[str]) -> list[str]:
        if len(set(purposes)) != len(purposes):
            raise ValueError("a purpose is listed twice")
        return purposes


class PolicyVersion(BaseModel):
    policy_id: str
    version: str
    effective_at: datetime
    published_at: datetime
    published_by: str
    in_effect: bool = Field(description="The version that applies now (the latest already effective)")
    texts: dict[str, str]
    text_hashes: dict[str, str]
    purposes: list[str]


class PolicyVersions(BaseModel):
    policy_id: str
    versions: list[PolicyVersion]


class PurposeOut(BaseModel):
    id: str
    legal_basis: str
    dpv_purpose: str
    needs_consent: bool
    required: bool
    retention_class: str
    retention: str
    reconfirm_days: int | None
    data_categories: list[str]
    recipients: list[str]
    names: dict[str, str]
    descriptions: dict[str, str]


class ConsentCloudEvent(CloudEvent):
    """A consent event as a CloudEvent (structured JSON), exactly as on the topic consent.inbound."""

    # The envelope's rules are CloudEvent's (extension attribute names, JSON data only); ``type``
    # and ``data`` are narrowed to a consent event, so one validation of the body checks it all
    # and lists every error at once.

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "specversion": "1.0",
                    "id": "3f1c1c9e-0b7a-4c1e-9f5e-1a2b3c4d5e6f",
                    "source": "clinic/website",
                    "type": "consent.granted",
                    "subject": "patient-1001",
                    "time": "2026-11-22T10:00:00+09:00",
                    "datacontenttype": "application/json",
                    "data": {
                        "subject_id": "patient-1001",
                        "subject_birth_date": "1990-04-01",
                        "purpose": "marketing_email",
                        "policy_id": "privacy-notice",
                        "policy_version": "2026-11",
                        "language": "ko",
                        "method": "web",
                        "actor": {"role": "self"},
                        "evidence": {"form_id": "signup-v3", "ip": "203.0.113.7"},
                    },
                }
            ]
        },
    )
    specversion: Literal["1.0"]  # required here; the topic's reader defaults it to 1.0
    type: Literal["consent.granted", "consent.declined", "consent.withdrawn"]
    data: IncomingConsentData


class TransitKeyOut(BaseModel):
    """A subject's public key as a JSON Web Key (RFC 7517, RFC 8037): an X25519 key to seal personal
    fields to with JWE ``ECDH-ES`` + ``A256GCM``. It seals only: nothing sealed can be opened with it."""

    kty: Literal["OKP"] = "OKP"
    crv: Literal["X25519"] = "X25519"
    x: str = Field(description="The public key, base64url without padding (32 bytes).")
    kid: str = Field(description="The subject id: the kid of every JWE sealed to this key.")
    use: Literal["enc"] = "enc"
    alg: Literal["ECDH-ES"] = "ECDH-ES"
    enc: Literal["A256GCM"] = "A256GCM"


class TransitPrivateKeyOut(TransitKeyOut):
    """The subject's private key (``d``, the transit root): the request service opens answers with it
    and derives each system's task key from it. For the request service's own key only."""

    d: str = Field(description="The private key, base64url without padding (32 bytes).")


class ActorOut(BaseModel):
    role: Literal["self", "legal_representative"]
    name: str | None = None
    relationship: str | None = None
    contact: str | None = None


class ConsentRecordOut(BaseModel):
    """One row of the ledger. Personal fields are null once the subject's key is destroyed."""

    record_id: str
    subject_id: str
    sequence: int
    decision: Literal["granted", "declined", "withdrawn"]
    purpose: str
    policy_id: str
    policy_version: str
    language: Language
    notice_hash: str
    method: str
    actor: ActorOut
    subject_birth_date: str | None
    evidence: dict[str, Any] | None
    jurisdiction: str
    requirement: Literal["self", "representative", "joint"]
    occurred_at: datetime
    recorded_at: datetime
    event_id: str
    source: str
    received_via: Literal["http", "kafka"]
    prev_hash: str
    record_hash: str
    legal_basis: str | None = Field(default=None, description=(
        "The purpose's legal basis (a W3C DPV term) when the record was made, chained with it; null for a "
        "record made before the service kept it (its receipt then gives the catalogue's, marked as such)."))


class PurposeState(BaseModel):
    purpose: str
    decision: Literal["granted", "declined", "withdrawn"]
    allowed: bool
    reason: str
    decided_at: datetime
    expires_at: datetime | None
    record: ConsentRecordOut


class HoldOut(BaseModel):
    hold_id: str
    request_id: str
    reason: str
    placed_at: datetime | None


class SubjectConsents(BaseModel):
    subject_id: str
    purposes: list[PurposeState]
    holds: list[HoldOut]
    erased_at: datetime | None = Field(
        default=None,
        description="When the subject's key was destroyed after an approved erasure request: the "
        "ledger is kept de-identified as evidence, and every consent-based permission is refused "
        "(reason 'erased'). Null if no erasure was approved.",
    )


class ConsentHistory(BaseModel):
    subject_id: str
    records: list[ConsentRecordOut]


class PermissionOut(BaseModel):
    subject_id: str
    purpose: str
    allowed: bool
    reason: Literal[
        "granted", "never_asked", "declined", "withdrawn", "legal_basis", "expired", "hold",
        "awaiting_joint_consent", "night_time", "erased", "child_no_third_party",
    ]
    explanation: str
    record_id: str | None = None
    decided_at: datetime | None = None
    expires_at: datetime | None = None


class ChainProblem(BaseModel):
    sequence: int
    record_id: str
    problem: str


class ChainVerification(BaseModel):
    subject_id: str
    valid: bool
    records: int
    head_hash: str | None
    problems: list[ChainProblem]
