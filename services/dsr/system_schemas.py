"""HTTP bodies of the registry of clinic systems and of what a system asks of its tasks: its
registration, its keys, a retirement's reason, the keys that check and open its tasks."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from shared.dates import Day, Timestamp
from shared.events import Language, PurposeId

#: A text a system wrote, or its words in a language.
Written = Annotated[str, StringConstraints(min_length=1, max_length=300)]

#: A right beyond a clinic system's defaults, granted only by the privacy manager.
SystemRight = Literal["consent_history"]


class RegisterSystem(BaseModel):
    """Register (or update) a clinic data system that requests fan out to."""

    model_config = ConfigDict(extra="forbid")
    system_id: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    data_categories: list[str] = Field(max_length=100)
    retention_classes: list[str] = Field(max_length=50)
    processor: bool = False
    source: str | None = Field(
        default=None, min_length=1, max_length=1024, pattern=r"^[^\s]+$",
        description="The CloudEvents source the system publishes consent events as (e.g. clinic/website); "
        "one system per source. A system without one publishes no consent events.",
    )
    purposes: list[PurposeId] = Field(
        default_factory=list, max_length=100,
        description="The purposes of the catalogue the system may check permissions for.",
    )
    rights: list[SystemRight] = Field(
        default_factory=list,
        description="Rights beyond a system's defaults: consent_history (a subject's consent history, "
        "receipts and birth date, otherwise for staff only).",
    )
    # What the privacy manager declares of a system outside the clinic (kept when an update leaves
    # them out; a system cannot change them): on what basis it receives the data, and for a
    # processor what it does and until when (PIPA Arts. 17, 26).
    legal_basis: Literal["consent", "law", "contract"] | None = Field(default=None, description=(
        "On what basis the system receives the clinic's data when it is not the clinic's own: the person's "
        "consent, a law (legal_citation), or a contract (a processor's entrustment). Null: the clinic's own."))
    legal_citation: str | None = Field(default=None, max_length=300, description="The law, with legal_basis 'law'")
    entrusted_duty: str | None = Field(default=None, max_length=500, description=(
        "A processor's entrusted duty, as the privacy policy states it (e.g. 'membership management, "
        "advertisement delivery')"))
    contract_from: Day | None = None
    contract_until: Day | None = Field(default=None, description="Null: until the contract is ended")
    translations: dict[Written, dict[Language, Written]] = Field(
        default_factory=dict, max_length=200, examples=[{"Marketing list": {"ko": "마케팅 명단",
                                                                           "vi": "Danh sách tiếp thị"}}],
        description="The words of what the system writes itself (its name, its description, the recipients it "
        "names in its answers) in the languages people read: text → {language: words}. People and staff read "
        "them in their language; text without words for it is shown as written.")

    @model_validator(mode="after")
    def _distinct(self) -> RegisterSystem:
        for name in ("purposes", "rights"):
            values = getattr(self, name)
            if len(set(values)) != len(values):
                raise ValueError(f"{name}: a value is listed twice")
        if self.legal_basis == "law" and not (self.legal_citation or "").strip():
            raise ValueError("legal_citation: the law is needed when legal_basis is 'law'")
        if self.processor and self.legal_basis not in (None, "contract"):
            raise ValueError("legal_basis: a processor receives data under its entrustment contract ('contract')")
        if not self.processor and self.entrusted_duty is not None:
            raise ValueError("entrusted_duty: only a processor is entrusted with a duty")
        if self.contract_from and self.contract_until and self.contract_until < self.contract_from:
            raise ValueError("contract_until: before contract_from")
        return self


class SystemOut(RegisterSystem):
    registered_at: datetime
    updated_at: datetime
    retired_at: datetime | None = Field(default=None, description="When it was retired: no tasks since.")
    retired_by: str | None = None
    retire_reason: str | None = None


class IssueKey(BaseModel):
    """Issue a key to a clinic system (the privacy manager)."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200, description="What the key is for, e.g. 'emr production 2026'.")
    expires_at: Timestamp | None = Field(
        default=None, description="When it stops working; absent: a year from now (DSR_SYSTEM_KEY_LIFETIME); "
        "null: never (not advised).")


class KeyOut(BaseModel):
    """A system's key as listed: never the key itself."""

    key_id: str
    system_id: str
    name: str
    created_at: datetime
    created_by: str
    expires_at: datetime | None
    revoked_at: datetime | None
    revoked_by: str | None


class IssuedKeyOut(BaseModel):
    """A key just issued: ``key`` is shown this once and kept nowhere (only its SHA-256 is)."""

    key_id: str
    key: str = Field(description="Send it as 'Authorization: Bearer <key>' to all three services.")
    system_id: str
    name: str
    created_at: datetime
    expires_at: datetime | None


class Reason(BaseModel):
    """Why (retiring a system, closing a task by hand): shown in the request's result and audit trail."""

    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=2000)


class TaskSigningKeyOut(BaseModel):
    """The request service's public key, with which a clinic system checks that a ``dsr.tasks``
    record is the request service's (its ``dongui-task-signature`` header: ``shared/servicesig.py``)."""

    algorithm: Literal["Ed25519"] = "Ed25519"
    key_id: str = Field(description="The key id a task's signature names: ed25519.<hex>.")
    public_key: str = Field(description="The raw 32-byte public key, base64url without padding.")


class TaskKeyOut(BaseModel):
    """The key that opens what one task carries sealed (a rectification's corrections): a JSON Web
    Key (RFC 7517) for JWE ``dir`` + ``A256GCM``, of this subject and this system only."""

    kty: Literal["oct"] = "oct"
    kid: str = Field(description="The subject id: the kid of the task's JWE.")
    k: str = Field(description="The key, base64url without padding (32 bytes).")
    use: Literal["enc"] = "enc"
    alg: Literal["dir"] = "dir"
    enc: Literal["A256GCM"] = "A256GCM"
