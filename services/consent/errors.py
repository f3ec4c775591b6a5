"""The consent service's refusals, by name.

Each class gives the status and title (through its base) and the input field it is about with a
short reason; the service raises it with the sentence a person reads. The bodies are those the
service always answered (type, title, detail and ``errors``): clients and tests rely on them.
"""

from __future__ import annotations

from shared.problems import Forbidden, InvalidInput

# --- policies ----------------------------------------------------------------------------------


class UnknownPolicyPurposes(InvalidInput):
    """A policy version names purposes that are not in the catalogue (one error per purpose)."""

    def __init__(self, unknown: list[str]) -> None:
        super().__init__(
            f"Unknown purposes: {', '.join(unknown)}. A policy may cover only purposes of the catalogue.",
            errors=[{"field": "purposes", "message": f"unknown purpose {p}"} for p in unknown],
        )


class NoticePeriodTooShort(InvalidInput):
    field = "effective_at"


# --- consent events ----------------------------------------------------------------------------


class TextNotUnicode(InvalidInput):
    reason = "text that is not valid Unicode"


class UnopenableSealedData(InvalidInput):
    field = "data.sealed"


class UnknownEventType(InvalidInput):
    field = "type"
    reason = "unknown event type"


class SubjectMismatch(InvalidInput):
    field = "subject"
    reason = "must equal data.subject_id"


class EventInFuture(InvalidInput):
    field = "time"
    reason = "in the future"


class UnknownPurpose(InvalidInput):
    field = "data.purpose"
    reason = "unknown purpose"


class UnknownPolicyVersion(InvalidInput):
    field = "data.policy_version"
    reason = "unknown policy version"


class PurposeNotCovered(InvalidInput):
    field = "data.purpose"
    reason = "not covered by the policy version"


class SubjectDestroyed(InvalidInput):
    field = "data.subject_id"
    reason = "destroyed subject"


class BirthDateRequired(InvalidInput):
    field = "data.subject_birth_date"
    reason = "required for consent.granted"


class BirthDateAfterEvent(InvalidInput):
    field = "data.subject_birth_date"
    reason = "after the event"


class RepresentativeMustGrant(InvalidInput):
    field = "data.actor.role"
    reason = "a legal representative must grant consent"


# --- commands from the request service ---------------------------------------------------------


class NoTimeZoneOffset(InvalidInput):
    """``field`` is the command's time field (``data.approved_at`` or ``data.requested_at``)."""

    reason = "no offset"


class RequestInFuture(InvalidInput):
    field = "data.requested_at"
    reason = "in the future"


class CommandIdTooLong(InvalidInput):
    field = "id"
    reason = "at most 191 characters"


# --- what a clinic system may do (issue 18: each system only its own rights) --------------------


class NotYourSource(Forbidden):
    field = "source"
    reason = "not the source of this key's system"


class PurposeNotGranted(Forbidden):
    field = "purpose"
    reason = "not a purpose of this key's system"


class NoConsentHistoryRight(Forbidden):
    pass


class OnlyTheRequestService(Forbidden):
    """A subject's private transit key is given to the request service's key alone."""
