"""The request service's refusals, by name.

Each class gives the status and title (through its base) and, when the refusal is about one input
field, that field and a short reason; the service raises it with the sentence a person reads. The
bodies are those the service always answered (same status, type, title, detail and errors).
"""

from __future__ import annotations

from typing import Any

from shared.problems import Conflict, Forbidden, Gone, InvalidInput, NotFound, Problem, Unauthorized, Unavailable

# --- intake -----------------------------------------------------------------------------------------


class TooManyRequests(Problem):
    status = 429
    slug = "rate-limited"
    title = "Too many requests"


class BirthDateInFuture(InvalidInput):
    field = "subject.birth_date"
    reason = "in the future"


class ProvidedInFuture(InvalidInput):
    field = "provided_at"
    reason = "in the future"


class StaffOnlyChannel(InvalidInput):
    field = "channel"
    reason = "staff only"


class AgentCannotFileForChild(InvalidInput):
    field = "requester.relationship"
    reason = "a legal representative must file for a child"


class UnknownObjectedRequest(InvalidInput):
    field = "details.objects_to"
    reason = "unknown request"


class NotARefusal(InvalidInput):
    field = "details.objects_to"
    reason = "not a refusal or an extension"


class NotStaff(Forbidden):
    """A key that is not staff's, where only staff may act."""


class NotSignedIn(Unauthorized):
    """Neither the requester's token nor a staff key was sent."""


# --- reading ----------------------------------------------------------------------------------------


class UnknownRequest(NotFound):
    pass


class WrongToken(Forbidden):
    pass


class RecordDestroyed(Conflict):
    """The request's key was destroyed at the end of its retention: nothing personal can be read."""


class ResultNotReady(Conflict):
    pass


# --- the workflow -----------------------------------------------------------------------------------


class IllegalTransition(Conflict):
    """A move the workflow (``domain.TRANSITIONS``) does not allow."""


class NotAChildsOwnRequest(Conflict):
    pass


class GuardianAlreadyJoined(Conflict):
    pass


class ChildCannotFileAlone(Conflict):
    """A child's own request waits for a legal representative before it can be verified."""


class NotAwaitingVerification(Conflict):
    pass


class AgentNeedsPowerOfAttorney(InvalidInput):
    field = "method"
    reason = "power_of_attorney required for an agent"


class RepresentativeNotChecked(InvalidInput):
    field = "representative_checked"
    reason = "must be true for a representative"


class SubjectUnidentified(InvalidInput):
    field = "subject_id"
    reason = "required while the subject is unknown"


class NotAwaitingDecision(Conflict):
    pass


class ComplaintIsAnswered(Conflict):
    """A complaint is answered by the privacy manager, not approved or refused."""


class NotAComplaint(Conflict):
    pass


class NotAwaitingAnswer(Conflict):
    pass


class GroundNotAllowed(InvalidInput):
    """A ground of the list, but not one the request's law gives for this decision and type."""

    field = "ground"
    reason = "not a ground for this request"


class LateWithoutReason(Conflict):
    """After the deadline, a refusal or an extension names why it is late."""

    field = "late_reason"
    reason = "required after the deadline"


class NoDeadlineToExtend(Conflict):
    pass


class AlreadyExtended(Conflict):
    pass


class CannotWithdraw(Conflict):
    pass


# --- telling the requester ----------------------------------------------------------------------


class NoAcknowledgementOwed(Conflict):
    """Only a request under a law that asks for one (Vietnam's) is acknowledged."""


class NotWaitingForRequester(Conflict):
    """More can be asked of the requester only while the request is received or being verified."""


class RequesterDataDestroyed(Gone):
    """The request's personal data (the requester's contact) was destroyed at the end of its retention."""


class OnlyTheNotifier(Forbidden):
    """A requester's contact is given to the notifier's key (``tells_requesters``) alone."""


class NotLiftable(Conflict):
    pass


class AlreadyLifted(Conflict):
    pass


class NoConsentService(Unavailable):
    pass


class NoReportFont(Unavailable):
    """The printable report needs a font with Korean and Vietnamese glyphs, and none is installed."""


class ConsentUnavailable(Unavailable):
    """The consent service cannot answer now (away, or refusing this service's key): try again later."""


class SubjectErased(Conflict):
    """The subject's transit key is destroyed: nothing about them can be sealed for Kafka any more."""


class SubjectGone(Gone):
    """The subject was erased: their transit keys are destroyed, and no task key is given."""


class ChangedMeanwhile(Conflict):
    """The request changed between fetching what a decision needs and locking it."""


# --- clinic systems and their answers ---------------------------------------------------------------


class UnknownRetentionClasses(InvalidInput):
    field = "retention_classes"

    def __init__(self, detail: str, *, unknown: list[str], **extensions: Any) -> None:
        # One entry per unknown class, as the body always listed them.
        super().__init__(detail, errors=[{"field": self.field, "message": f"unknown {c}"} for c in unknown],
                         **extensions)


class UnknownSystemPurposes(InvalidInput):
    field = "purposes"

    def __init__(self, unknown: list[str]) -> None:
        super().__init__(f"Unknown purposes: {', '.join(unknown)}. A system may check only purposes of the catalogue.",
                         errors=[{"field": self.field, "message": f"unknown purpose {p}"} for p in unknown])


class SourceTaken(Conflict):
    field = "source"
    reason = "another system publishes as this source"


class NotYourSystem(Forbidden):
    """A clinic system's key acts only for its own system."""

    field = "system_id"
    reason = "not the system of this key"


class NotYourTask(Forbidden):
    """A clinic system's key answers only that system's tasks."""

    field = "system_id"
    reason = "not the system of this key"


class CannotWiden(Forbidden):
    """A system updating itself may keep or narrow its source, purposes and rights, not widen them."""


class UnknownSystem(NotFound):
    pass


class UnknownKey(NotFound):
    pass


class SystemRetired(Conflict):
    pass


class KeyExpiryPast(InvalidInput):
    field = "expires_at"
    reason = "in the past"


class TaskAlreadyAnswered(Conflict):
    pass


class TaskClosedByHand(Conflict):
    """The task was closed by hand (or with its system's retirement): an answer comes too late."""


class UnknownTask(NotFound):
    pass


class TaskIdMismatch(InvalidInput):
    field = "task_id"
    reason = "does not match the path"


class NotTheTasksSystem(InvalidInput):
    field = "system_id"
    reason = "not the task's system"


class NotTheTasksRequest(InvalidInput):
    field = "request_id"
    reason = "mismatch"


class NotTheTasksSubject(InvalidInput):
    field = "subject_id"
    reason = "mismatch"


class UnusableSealedAnswer(InvalidInput):
    """A sealed part that cannot be opened or used (another kid or key, unknown or repeated fields)."""

    field = "sealed"


class InvalidSealedAnswer(InvalidInput):
    """A sealed part that opens, but holds invalid fields (its field and reason given when raised)."""


# --- destruction ------------------------------------------------------------------------------------


class UndeclaredRetentionClass(InvalidInput):
    field = "records"
    reason = "not a class of this system"


class RecordedInFuture(InvalidInput):
    field = "records"
    reason = "in the future"


class KeptOnlyByLaw(Forbidden):
    """A closed request's personal part is kept only by law: the privacy manager reads it."""
