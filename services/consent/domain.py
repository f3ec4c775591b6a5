"""The rules of consent, as pure functions: the hash chain and permissions (the age rules, the
purpose catalogue and the night-time hours are in :mod:`shared.rules`)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from shared.cloudevents import canonical_json

# The rules of law this service applies are defined once, in shared/rules.
from shared.rules.ages import AgeRule, Requirement, age_on, age_rule  # noqa: F401
from shared.rules.notices import at_night  # noqa: F401
from shared.rules.purposes import Purpose, PurposeCatalogue  # noqa: F401

GENESIS_HASH = "0" * 64


def chain_hash(prev_hash: str, fields: dict[str, Any]) -> str:
    return hashlib.sha256(prev_hash.encode() + canonical_json(fields)).hexdigest()


#: The ledger columns a record's hash covers, in the order they are listed in the README.
CHAINED_FIELDS = (
    "record_id", "subject_id", "sequence", "event_id", "event_digest", "source", "decision",
    "purpose", "policy_id", "policy_version", "language", "notice_hash", "method", "actor_role",
    "jurisdiction", "requirement", "occurred_at", "recorded_at", "personal_digest",
)


#: Chained when present: the purpose's legal basis, kept with each record since consent migration
#: 0006. A record made before has none, and its hash is the one it was made with.
CHAINED_WHEN_PRESENT = ("legal_basis",)


def chained_view(row: dict[str, Any]) -> dict[str, Any]:
    """The part of a ledger row the hash covers, as JSON-ready values (timestamps in UTC ISO)."""
    view = {}
    for name in CHAINED_FIELDS:
        value = row[name]
        if isinstance(value, datetime):
            value = value.isoformat(timespec="microseconds")
        view[name] = str(value) if name == "record_id" else value
    for name in CHAINED_WHEN_PRESENT:
        if row.get(name) is not None:
            view[name] = row[name]
    return view


Reason = Literal[
    "granted", "never_asked", "declined", "withdrawn", "legal_basis", "expired", "hold",
    "awaiting_joint_consent", "night_time", "erased", "child_no_third_party",
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
    if purpose.third_party and state["requirement"] != "self":
        return Permission(False, "child_no_third_party",
                          "consent was given for a child, and the clinic provides no child's data to a third party "
                          "(its policy, section 7); a provision a law requires is a purpose of its own; once of age, "
                          "the person may consent themselves")
    if state["requirement"] == "joint" and not (state["self_granted"] and state["representative_granted"]):
        missing = "the legal representative" if state["self_granted"] else "the child"
        return Permission(False, "awaiting_joint_consent", f"both the child and a legal representative must consent; waiting for {missing}")
    expires_at = None
    if purpose.reconfirm_days:
        expires_at = state["decided_at"] + timedelta(days=purpose.reconfirm_days)
        if now >= expires_at:
            return Permission(False, "expired", f"consent was not re-confirmed within {purpose.reconfirm_days} days", expires_at)
    return Permission(True, "granted", "consent is in force", expires_at)
