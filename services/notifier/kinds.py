"""What the privacy manager can be told about, and what a requester is told: the notification
kinds, and which are on by default."""

from __future__ import annotations

from enum import StrEnum


class Kind(StrEnum):
    # A new request; a guardian's for a child, a child's own and an objection are kinds of their own
    # so that they stand out (and can be routed differently).
    request_received = "request_received"
    guardian_request = "guardian_request"
    child_request = "child_request"
    objection_filed = "objection_filed"
    awaiting_decision = "awaiting_decision"
    deadline_approaching = "deadline_approaching"
    deadline_missed = "deadline_missed"
    request_rejected = "request_rejected"
    task_unanswered = "task_unanswered"
    policy_published = "policy_published"
    dead_letter = "dead_letter"
    withdrawal_digest = "withdrawal_digest"
    # The breach register's 72-hour clock (PIPA 34): a breach recorded or changed, the reminders at
    # 24 and 48 hours, and the deadline passed with someone still to be told.
    breach_recorded = "breach_recorded"
    breach_updated = "breach_updated"
    breach_deadline_approaching = "breach_deadline_approaching"
    breach_overdue = "breach_overdue"
    # Vietnam's acknowledgement was not made by its date; a requester could not be told.
    acknowledgement_overdue = "acknowledgement_overdue"
    # Data that had to go was not confirmed destroyed by every holding system within its time.
    destruction_overdue = "destruction_overdue"
    requester_not_told = "requester_not_told"
    # Off by default: the request service's own queue shows them; a recipient may ask for them.
    request_approved = "request_approved"
    request_extended = "request_extended"
    request_completed = "request_completed"
    request_withdrawn = "request_withdrawn"
    breach_people_notified = "breach_people_notified"
    breach_regulator_reported = "breach_regulator_reported"
    breach_closed = "breach_closed"
    information_needed = "information_needed"
    # What the requester is told, in their language, by the channel they gave (never a staff
    # recipient's: no recipient may ask for them).
    requester_received = "requester_received"
    requester_extended = "requester_extended"
    requester_rejected = "requester_rejected"
    requester_information_needed = "requester_information_needed"
    requester_result_ready = "requester_result_ready"


#: The requester's own kinds: sent to the requester only, never to a configured recipient.
REQUESTER_KINDS: frozenset[Kind] = frozenset(k for k in Kind if k.value.startswith("requester_")
                                              and k is not Kind.requester_not_told)

#: What a recipient without a ``kinds`` list is told: everything the privacy manager must learn
#: of promptly (PIPA 31 and the clinics' policies), not the routine progress of each request.
DEFAULT_KINDS: frozenset[Kind] = frozenset(Kind) - REQUESTER_KINDS - {
    Kind.request_approved,
    Kind.request_extended,
    Kind.request_completed,
    Kind.request_withdrawn,
    Kind.breach_people_notified,
    Kind.breach_regulator_reported,
    Kind.breach_closed,
    Kind.information_needed,
}
