"""The rules of consent, as pure functions: age rules, who may grant, the hash chain, permissions."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from shared.cloudevents import canonical_json
from shared.retention import RETENTION_CLASSES

GENESIS_HASH = "0" * 64
Requirement = Literal["self", "representative", "joint"]


class Purpose(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    legal_basis: str = Field(description="W3C DPV legal basis, e.g. dpv:Consent")
    dpv_purpose: str
    required: bool = Field(description="Required for the service it belongs to (refusing blocks it)")
    retention_class: str
    reconfirm_days: int | None = Field(default=None, description="Consent lapses unless re-confirmed")
    night_purpose: str | None = Field(default=None, description="Also needed for a send between 21:00 and 08:00")
    data_categories: list[str] = []
    recipients: list[str] = []
    names: dict[str, str]
    descriptions: dict[str, str]

    @property
    def needs_consent(self) -> bool:
        return self.legal_basis in ("dpv:Consent", "dpv:ExplicitlyExpressedConsent")


class PurposeCatalogue(BaseModel):
    purposes: list[Purpose]

    @classmethod
    def load(cls, path: Path) -> dict[str, Purpose]:
        catalogue = cls.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
        for purpose in catalogue.purposes:
            if purpose.retention_class not in RETENTION_CLASSES:
                raise ValueError(f"purpose {purpose.id}: unknown retention class {purpose.retention_class}")
            missing = {"ko", "en", "vi"} - purpose.names.keys()
            if missing:
                raise ValueError(f"purpose {purpose.id}: names missing for {sorted(missing)}")
        return {p.id: p for p in catalogue.purposes}


def age_on(birth_date: date, day: date) -> int:
    """Full years (the Korean legal "만 나이", as everywhere else)."""
    return day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))


@dataclass(frozen=True)
class AgeRule:
    requirement: Requirement
    explanation: str


def age_rule(jurisdiction: str, age: int) -> AgeRule:
    """Who must grant consent for a subject of ``age`` under ``jurisdiction``'s rule."""
    if jurisdiction == "KR" and age < 14:
        return AgeRule("representative", "under 14 in Korea, consent must come from a legal representative (PIPA 22-2)")
    if jurisdiction == "VN" and age < 7:
        return AgeRule("representative", "under 7 in Vietnam, consent must come from a legal representative")
    if jurisdiction == "VN" and age < 16:
        return AgeRule("joint", "aged 7 to 15 in Vietnam, both the child and a legal representative must consent")
    if jurisdiction == "EU" and age < 16:
        return AgeRule("representative", "under 16 in the EU, consent must come from the holder of parental responsibility (GDPR Art. 8)")
    return AgeRule("self", "an adult for this purpose")


def chain_hash(prev_hash: str, fields: dict[str, Any]) -> str:
    return hashlib.sha256(prev_hash.encode() + canonical_json(fields)).hexdigest()


#: The ledger columns a record's hash covers, in the order they are listed in the README.
CHAINED_FIELDS = (
    "record_id", "subject_id", "sequence", "event_id", "event_digest", "source", "decision",
    "purpose", "policy_id", "policy_version", "language", "notice_hash", "method", "actor_role",
    "jurisdiction", "requirement", "occurred_at", "recorded_at", "personal_digest",
)


def chained_view(row: dict[str, Any]) -> dict[str, Any]:
    """The part of a ledger row the hash covers, as JSON-ready values (timestamps in UTC ISO)."""
    view = {}
    for name in CHAINED_FIELDS:
        value = row[name]
        if isinstance(value, datetime):
            value = value.isoformat(timespec="microseconds")
        view[name] = str(value) if name == "record_id" else value
    return view


NIGHT_START, NIGHT_END = 21, 8  # Network Act Art. 50(3): 21:00 to 08:00, local time


def at_night(moment: datetime, zone) -> bool:
    return not NIGHT_END <= moment.astimezone(zone).hour < NIGHT_START


Reason = Literal[
    "granted", "never_asked", "declined", "withdrawn", "legal_basis", "expired", "hold",
    "awaiting_joint_consent", "night_time", "erased",
]


@dataclass(frozen=True)
class Permission:
    allowed: bool
    reason: Reason
    explanation: str
    expires_at: datetime | None = None


def evaluate_permission(
    purpose: Purpose, state: dict[str, Any] | None, on_hold: bool, now: datetime, *, erased: bool = False
) -> Permission:
    """May this subject's data be used for ``purpose`` now? Silence is never consent.

    ``erased``: an erasure of the subject was approved (their key is destroyed). The person asked
    for their data to be deleted, so no consent-based use is allowed any more, whatever the
    de-identified ledger says; a purpose with another legal basis (treatment) is unaffected.
    """
    if not purpose.needs_consent:
        return Permission(True, "legal_basis", f"allowed without consent: {purpose.legal_basis}")
    if erased:
        return Permission(
            False, "erased", "the person's data was erased at their request; consent can no longer be relied on"
        )
    if on_hold:
        return Permission(False, "hold", "a processing hold is active (a correction or restriction is pending)")
    if state is None:
        return Permission(False, "never_asked", "no consent has been recorded for this purpose")
    decision = state["decision"]
    if decision == "declined":
        return Permission(False, "declined", "the person declined this purpose")
    if decision == "withdrawn":
        return Permission(False, "withdrawn", "the person withdrew consent for this purpose")
    if state["requirement"] == "joint" and not (state["self_granted"] and state["representative_granted"]):
        missing = "the legal representative" if state["self_granted"] else "the child"
        return Permission(False, "awaiting_joint_consent", f"both the child and a legal representative must consent; waiting for {missing}")
    expires_at = None
    if purpose.reconfirm_days:
        expires_at = state["decided_at"] + timedelta(days=purpose.reconfirm_days)
        if now >= expires_at:
            return Permission(False, "expired", f"consent was not re-confirmed within {purpose.reconfirm_days} days", expires_at)
    return Permission(True, "granted", "consent is in force", expires_at)
