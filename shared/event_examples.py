"""One example event of each model of :data:`shared.events.CATALOGUE`, which ``shared.events``
attaches to the model as ``Model.example`` when it is imported.

``docs/asyncapi.yaml`` shows each model's example as its message's example (``make asyncapi``),
and the tests check each against its model and its schema. They are kept here, beside the models
rather than inside them, so that ``shared/events.py`` stays the contract a clinic system reads.
This module imports nothing of ``shared.events`` (which imports it): examples are found by model
name.

The examples follow a few fictional people and data-subject requests (:data:`_REQUESTS`), so that
a task belongs to a request shown on dsr.events and the result answers a task shown on dsr.tasks.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from shared.digests import sha256_hex


@dataclass(frozen=True)
class EventExample:
    """One event of a model, as its producer would send it."""

    #: The CloudEvent ``data``: valid for the model.
    data: dict[str, Any]
    #: The CloudEvent ``source``: the system that sent it.
    source: str
    #: The CloudEvent ``time``.
    time: str


#: The producers of the examples (the CloudEvent ``source``).
WEBSITE = "clinic/website"
EMR = "clinic/emr"
CONSENT = "dongui/consent"
DSR = "dongui/dsr"

#: The ``data`` fields that say when an event happened: the first one given is its ``time``.
_TIME_FIELDS = (
    "occurred_at", "placed_at", "released_at", "approved_at", "requested_at", "published_at", "at"
)


def _example(source: str, data: dict[str, Any], *, sent_at: str | None = None) -> EventExample:
    """``sent_at``: the CloudEvent ``time``; by default when ``data`` says the event happened."""
    if sent_at is None:
        sent_at = next(data[f] for f in _TIME_FIELDS if isinstance(data.get(f), str))
    return EventExample(data=data, source=source, time=sent_at)


def _example_id(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"dongui:example:{name}"))


_INBOUND = {
    "subject_id": "patient-20931",
    "subject_birth_date": "1991-04-17",
    "purpose": "marketing_sms",
    "policy_id": "privacy-notice",
    "policy_version": "2025-01",
    "language": "ko",
    "method": "web",
    "actor": {"role": "self"},
    "evidence": {"form_id": "signup-v3", "ip_address": "203.0.113.7"},
    "jurisdiction": "KR",
}


def _recorded(decision: str, sequence: int) -> EventExample:
    return _example(CONSENT, {
        "record_id": _example_id(f"record:{decision}"),
        "subject_id": "patient-20931",
        "sequence": sequence,
        "purpose": "marketing_sms",
        "decision": decision,
        "policy_id": "privacy-notice",
        "policy_version": "2025-01",
        "language": "ko",
        "notice_hash": sha256_hex("privacy-notice 2025-01 ko"),
        "method": "web",
        "actor_role": "self",
        "jurisdiction": "KR",
        "occurred_at": "2025-03-14T00:26:53Z",
        "recorded_at": "2025-03-14T00:26:54.210000Z",
        "source_event_id": _example_id(f"inbound:{decision}"),
        "source": "clinic/website",
        "record_hash": sha256_hex(f"record {sequence}"),
    })


#: The data-subject requests (fictional) that the examples on dsr.events, dsr.tasks and
#: dsr.task-results follow, by name. ``due_at`` is the end of the deadline's last day where the
#: clinic is (23:59:59 in Seoul, UTC+9; in Ho Chi Minh City, UTC+7).
_REQUESTS: dict[str, dict[str, Any]] = {
    # An adult's erasure on the portal: a medical record is kept by law, so it ends partially
    # completed.
    "erasure": {
        "request_id": _example_id("request:erasure"),
        "reference": "DSR-2026-4KQ7X",
        "type": "erasure",
        "jurisdiction": "KR",
        "language": "ko",
        "subject_id": "patient-20931",
        "by_guardian": False,
        "child_own_request": False,
        "due_at": "2026-03-12T14:59:59Z",
    },
    # A mother withdraws, on paper at the front desk, her 10-year-old's consent to model photos.
    "child": {
        "request_id": _example_id("request:child"),
        "reference": "DSR-2026-9HM3T",
        "type": "consent_withdrawal",
        "jurisdiction": "KR",
        "language": "ko",
        "subject_id": "patient-31877",
        "by_guardian": True,
        "child_own_request": False,
        "due_at": "2026-03-19T14:59:59Z",
    },
    # A patient's new mobile number; the subject's data is on hold meanwhile.
    "rectification": {
        "request_id": _example_id("request:rectification"),
        "reference": "DSR-2026-R2WDE",
        "type": "rectification",
        "jurisdiction": "KR",
        "language": "ko",
        "subject_id": "patient-18420",
        "by_guardian": False,
        "child_own_request": False,
        "due_at": "2026-03-14T14:59:59Z",
    },
    # A copy of one's data, which the CRM never answers: the request goes overdue.
    "access": {
        "request_id": _example_id("request:access"),
        "reference": "DSR-2026-7PZ5N",
        "type": "access",
        "jurisdiction": "KR",
        "language": "en",
        "subject_id": "patient-27754",
        "by_guardian": False,
        "child_own_request": False,
        "due_at": "2026-03-02T14:59:59Z",
    },
    # A restriction, withdrawn three days later: processing resumes.
    "restriction": {
        "request_id": _example_id("request:restriction"),
        "reference": "DSR-2026-C8VJ6",
        "type": "restriction",
        "jurisdiction": "KR",
        "language": "ko",
        "subject_id": "patient-52206",
        "by_guardian": False,
        "child_own_request": False,
        "due_at": "2026-03-16T14:59:59Z",
    },
    # Access in Vietnam: 15 days, extended once by 15 more.
    "extended": {
        "request_id": _example_id("request:extended"),
        "reference": "DSR-2026-XT4GB",
        "type": "access",
        "jurisdiction": "VN",
        "language": "vi",
        "subject_id": "patient-40318",
        "by_guardian": False,
        "child_own_request": False,
        "due_at": "2026-03-18T16:59:59Z",
    },
    # Access refused: the records asked for name a third party.
    "rejected": {
        "request_id": _example_id("request:rejected"),
        "reference": "DSR-2026-M5KAY",
        "type": "access",
        "jurisdiction": "KR",
        "language": "ko",
        "subject_id": "patient-61093",
        "by_guardian": False,
        "child_own_request": False,
        "due_at": "2026-03-13T14:59:59Z",
    },
}


def _request_event(request: str, status: str, occurred_at: str, **fields: Any) -> EventExample:
    return _example(DSR, {**_REQUESTS[request], "status": status, "occurred_at": occurred_at, **fields})


#: The destruction the destruction events and the destroy task follow.
_DESTRUCTION = {
    "destruction_id": _example_id("destruction:model_photos"),
    "reference": "DST-2026-Q4M7T",
    "subject_id": "patient-31877",
    "trigger": "consent_withdrawal",
    "purposes": ["model_photos"],
    "categories": ["photos"],
    "classes": [],
    "due_at": "2026-03-18T01:00:00Z",
    "at": "2026-03-13T01:00:00Z",
}


def _task_id(request: str, system_id: str, kind: str) -> str:
    return _example_id(f"task:{request}:{system_id}:{kind}")


def _task(
    request: str, system_id: str, kind: str, *, attempt: int, due_at: str, sent_at: str,
    **fields: Any,
) -> EventExample:
    r = _REQUESTS[request]
    return _example(DSR, {
        "task_id": _task_id(request, system_id, kind),
        "request_id": r["request_id"],
        "reference": r["reference"],
        "system_id": system_id,
        "subject_id": r["subject_id"],
        "jurisdiction": r["jurisdiction"],
        "attempt": attempt,
        "due_at": due_at,
        **fields,
    }, sent_at=sent_at)


#: A leak (fictional) that the breach examples follow: a misconfigured export left a file of
#: 1,240 members' names, phone numbers and treatment records readable from the internet. Found on
#: 4 March 2026 at 10:30 in Seoul; the people and the regulator must be told by 7 March, 10:30.
_BREACH: dict[str, Any] = {
    "breach_id": _example_id("breach:export"),
    "reference": "BR-2026-Q4T7W",
    "status": "open",
    "occurred_at": "2026-03-02T15:00:00Z",
    "discovered_at": "2026-03-04T01:30:00Z",
    "notify_by": "2026-03-07T01:30:00Z",
    "subject_count": 1240,
    "data_categories": ["name", "contact", "health"],
    "sensitive": True,
    "unique_identifiers": False,
    "external_access": False,
    "regulator_required": True,
    "regulator_reasons": ["people", "sensitive"],
    "people_told": 0,
    "outstanding": ["people", "regulator"],
}


def _breach(at: str, **fields: Any) -> EventExample:
    return _example(DSR, {**_BREACH, "at": at, **fields}, sent_at=at)


#: The ``data`` of one valid event per model, by model name; ``build_document`` refuses a model
#: without one, and the tests validate each against its model and its schema.


#: When the person decided, in the consent.inbound examples (whose data has no time of its own).
_DECIDED_AT = "2025-03-14T00:26:53Z"


def _inbound(data: dict[str, Any]) -> EventExample:
    return _example(WEBSITE, data, sent_at=_DECIDED_AT)


#: The example of each model of ``shared.events.CATALOGUE``, by model name.
EXAMPLES: dict[str, EventExample] = {
    "ConsentGranted": _inbound(_INBOUND),
    "ConsentDeclined": _inbound({
        **_INBOUND,
        "purpose": "model_photos",
        "method": "paper",
        "language": "en",
        "actor": {"role": "legal_representative", "name": "Kim Min-ji", "relationship": "mother"},
        "evidence": {"paper_scan_id": "scan-2025-000412"},
        "subject_birth_date": "2011-09-02",
    }),
    "ConsentWithdrawn": _inbound({
        key: value for key, value in _INBOUND.items() if key != "subject_birth_date"
    }),
    "ConsentGrantRecorded": _recorded("granted", 1),
    "ConsentDeclineRecorded": _recorded("declined", 2),
    "ConsentWithdrawalRecorded": _recorded("withdrawn", 3),
    "PolicyPublished": _example(CONSENT, {
        "policy_id": "privacy-notice",
        "version": "2025-01",
        "effective_at": "2025-02-01T00:00:00Z",
        "published_at": "2025-01-15T02:00:00Z",
        "published_by": "privacy-manager",
        "purposes": ["membership", "marketing_sms", "marketing_email"],
        "text_hashes": {
            lang: sha256_hex(f"privacy-notice 2025-01 {lang}") for lang in ("ko", "en", "vi")
        },
    }),
    "SubjectHoldPlaced": _example(DSR, {
        "subject_id": "patient-18420",
        "hold_id": _example_id("hold:rectification"),
        "request_id": _REQUESTS["rectification"]["request_id"],
        "reason": "rectification",
        "placed_at": "2026-03-05T02:00:00Z",
    }),
    "SubjectHoldReleased": _example(DSR, {
        "subject_id": "patient-18420",
        "hold_id": _example_id("hold:rectification"),
        "request_id": _REQUESTS["rectification"]["request_id"],
        "released_at": "2026-03-06T08:45:00Z",
    }),
    # The request lifecycle.
    "RequestReceived": _request_event(
        "child", "received", "2026-03-09T05:30:00Z",
        subject_id=None, channel="paper", waiting_for=["verification"],
    ),
    "RequestVerified": _request_event(
        "erasure", "in_review", "2026-03-02T01:21:40Z", method="mobile_phone",
    ),
    "RequestApproved": _request_event(
        "erasure", "approved", "2026-03-03T00:40:00Z", decided_by="privacy-manager",
    ),
    "RequestRejected": _request_event(
        "rejected", "rejected", "2026-03-06T01:30:00Z",
        decided_by="privacy-manager",
        ground="kr-access-others",
        legal_ground=(
            "PIPA Art. 35(4) 2: Access could harm another person's life or body, or unjustly "
            "infringe another person's property or other interests (the records name a third party)"
        ),
        remedies=["kr-mediation", "kr-kisa", "kr-prosecutors", "kr-police"],
    ),
    "RequestExtended": _request_event(
        "extended", "in_progress", "2026-02-27T04:00:00Z",
        previous_due_at="2026-03-03T16:59:59Z",
        ground="kr-ext-retrieval",
        reason=(
            "The records of 2019 to 2021 are archived by the EMR vendor and take longer to "
            "retrieve."
        ),
    ),
    "RequestCompleted": _request_event(
        "erasure", "partially_completed", "2026-03-05T06:10:00Z", outcome="partially_completed",
    ),
    "RequestWithdrawn": _request_event("restriction", "withdrawn", "2026-03-09T02:15:00Z"),
    "RequestDeadlineApproaching": _request_event(
        "access", "in_progress", "2026-02-28T12:36:00Z", threshold=80,
    ),
    "RequestOverdue": _request_event("access", "in_progress", "2026-03-02T15:00:00Z"),
    "RequestTaskUnanswered": _request_event(
        "access", "in_progress", "2026-03-01T15:00:00Z",
        task_id=_task_id("access", "crm", "export"), system_id="crm", attempts=3,
    ),
    "RequestInformationNeeded": _request_event(
        "child", "received", "2026-03-09T06:00:00Z", subject_id=None, needed="proof_of_representation",
        asked_by="front-desk",
    ),
    # Vietnam's acknowledgement: within 2 working days, here when the requester was emailed.
    "RequestAcknowledged": _request_event(
        "extended", "verifying", "2026-02-13T01:02:00Z", acknowledge_by="2026-02-16T16:59:59Z",
        acknowledged_at="2026-02-13T01:02:00Z", acknowledged_via="email",
    ),
    "RequestAcknowledgementOverdue": _request_event(
        "extended", "verifying", "2026-02-16T17:00:00Z", acknowledge_by="2026-02-16T16:59:59Z",
    ),
    # What the consent service must do.
    "SubjectErasureApproved": _example(DSR, {
        "subject_id": "patient-20931",
        "request_id": _REQUESTS["erasure"]["request_id"],
        "approved_at": "2026-03-03T00:40:00Z",
    }),
    "SubjectConsentWithdrawalRequested": _example(DSR, {
        "subject_id": "patient-31877",
        "request_id": _REQUESTS["child"]["request_id"],
        "purposes": ["model_photos"],
        "actor_role": "legal_representative",
        "method": "paper",
        "requested_at": "2026-03-10T01:05:00Z",
    }),
    # The breach register's clock (no person in any of them).
    "BreachRecorded": _breach("2026-03-04T01:42:00Z"),
    "BreachUpdated": _breach("2026-03-04T06:10:00Z", changed=["subject_count", "data_categories"]),
    "BreachDeadlineApproaching": _breach("2026-03-05T01:30:20Z", hours_elapsed=24),
    "BreachOverdue": _breach("2026-03-07T01:30:20Z", people_told=1240, outstanding=["regulator"]),
    "BreachPeopleNotified": _breach("2026-03-05T08:00:00Z", people_told=1240, outstanding=["regulator"],
                                    notified_at="2026-03-05T07:30:00Z", count=1240, channels=["sms", "email"]),
    "BreachRegulatorReported": _breach("2026-03-06T02:00:00Z", people_told=1240, outstanding=[],
                                       reported_at="2026-03-06T01:50:00Z", regulator="PIPC"),
    "BreachClosed": _breach("2026-03-20T05:00:00Z", status="closed", people_told=1240, outstanding=[],
                            outcome="handled"),
    # A destruction: model_photos withdrawn; the photos go, what treatment keeps stays.
    "RetentionExpired": _example(DSR, {**_DESTRUCTION, "systems": ["crm", "photo-studio"]}),
    "DataDestroyed": _example(DSR, {**_DESTRUCTION, "at": "2026-03-14T02:10:00Z", "system_id": "photo-studio",
                                    "outcome": "done", "erased": ["photos"]}),
    "DestructionOverdue": _example(DSR, {**_DESTRUCTION, "at": "2026-03-18T01:00:00Z", "outstanding": ["crm"]}),
    # The tasks (sent a few seconds after what caused them), and one answer.
    "ExportTask": _task(
        "access", "crm", "export", attempt=2, due_at="2026-02-27T14:59:59Z",
        sent_at="2026-02-25T15:00:05Z",
    ),
    "EraseTask": _task(
        "erasure", "emr", "erase", attempt=1, due_at="2026-03-09T14:59:59Z",
        sent_at="2026-03-03T00:40:02Z",
        retain_classes=["medical_record", "prescription"],
        restrict_to_legal_purpose=[
            {"retention_class": "medical_record",
             "citation": "Medical Service Act Art. 22, Enforcement Rule 15 (10 years)"},
            {"retention_class": "prescription", "citation": "Medical Service Act Enforcement Rule 15 (2 years)"},
        ],
    ),
    "RectifyTask": _task(
        "rectification", "emr", "rectify", attempt=1, due_at="2026-03-11T14:59:59Z",
        sent_at="2026-03-05T02:00:02Z",
        # {"corrections": [{"item": "mobile_phone", "current": "010-1234-5678",
        #                   "corrected": "010-8765-4321"}]}, sealed with the subject's transit key
        # (here the 32 bytes 0x00 to 0x1f, base64url "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8").
        sealed=(
            "eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIiwia2lkIjoicGF0aWVudC0xODQyMCIsImN0eSI6Impz"
            "b24ifQ..Vo1TGry9Gq771FGY.bz_0_3NjpJQmjP08oUzGhZn_sYVzdXdmc1SYWmREer5bU8bWTQVamqe"
            "q3n-aqWraAN4X15TNXT0_yj2V09HlNHaBKG_0kaq7PZ5ZvlMfBe57g3APG3d_0cESGWMm4f8.R5f5QQs"
            "xn3vMJ2ZdcVWi6g"
        ),
        amend_classes=["medical_record", "nursing_record"],
    ),
    "RestrictTask": _task(
        "restriction", "reservations", "restrict", attempt=1, due_at="2026-03-10T14:59:59Z",
        sent_at="2026-03-06T08:00:03Z",
    ),
    "LiftTask": _task(
        "restriction", "reservations", "lift", attempt=1, due_at="2026-03-12T14:59:59Z",
        sent_at="2026-03-09T02:15:02Z",
    ),
    "DestroyTask": _example(DSR, {
        "task_id": _example_id("task:destruction:photo-studio:destroy"),
        "request_id": _DESTRUCTION["destruction_id"],
        "reference": _DESTRUCTION["reference"],
        "system_id": "photo-studio",
        "subject_id": _DESTRUCTION["subject_id"],
        "jurisdiction": "KR",
        "attempt": 1,
        "due_at": _DESTRUCTION["due_at"],
        "trigger": "consent_withdrawal",
        "purposes": ["model_photos"],
        "categories": ["photos"],
        "classes": [],
        "retain_classes": [],
        "kept": [
            {"category": "name", "because": "treatment",
             "citation": "Medical Service Act Art. 22, Enforcement Rule 15 (10 years)"},
            {"retention_class": "marketing", "because": "marketing_email",
             "citation": "Clinic policy: until consent is withdrawn"},
        ],
        "rule": "Clinic policy: until consent is withdrawn",
    }, sent_at="2026-03-13T01:00:02Z"),
    "TaskResult": _example(EMR, {
        "task_id": _task_id("erasure", "emr", "erase"),
        "request_id": _REQUESTS["erasure"]["request_id"],
        "system_id": "emr",
        "subject_id": "patient-20931",
        "outcome": "partially_done",
        "erased": ["contact", "prescription"],
        "retained": [
            {
                "category": "medical_record",
                "retention_class": "medical_record",
                "until": "2034-05-20",
            }
        ],
        "note": (
            "The medical record of the visit on 2024-05-20 is kept until 2034-05-20 (Medical "
            "Service Act Enforcement Rule 15: 10 years). The prescription of 2023-11-08 was "
            "past its 2 years and was erased."
        ),
    }, sent_at="2026-03-05T05:52:00Z"),
    "SystemChanged": _example(DSR, {
        "system_id": "crm",
        "source": "agency/crm",
        "purposes": ["marketing_email", "marketing_sms"],
        "rights": [],
        "retired_at": None,
        "updated_at": "2025-03-02T01:00:00Z",
    }, sent_at="2025-03-02T01:00:00Z"),
    "SystemKeyChanged": _example(DSR, {
        "key_id": "key.3f9a1c07d2e4b6a8",
        "system_id": "crm",
        "name": "crm production 2025",
        "key_sha256": sha256_hex("an example key, never a real one"),
        "created_at": "2025-03-02T01:05:00Z",
        "expires_at": "2026-03-02T01:05:00Z",
        "revoked_at": None,
    }, sent_at="2025-03-02T01:05:00Z"),
}

#: The example of the dead letter (``privacy.dead-letter``, no model): a message on
#: consent.inbound that was not JSON, with the headers ``shared.consumer`` adds.
DEAD_LETTER_EXAMPLE: dict[str, Any] = {
    "headers": {
        "dongui-dlq-reason": "the message is not JSON: Expecting value: line 1 column 1 (char 0)",
        "dongui-dlq-topic": "consent.inbound",
        "dongui-dlq-partition": "2",
        "dongui-dlq-offset": "1187",
        "dongui-dlq-consumer": "consent/inbound",
        "dongui-dlq-at": "2025-03-14T00:27:01.532114+00:00",
    },
    "payload": "consent=yes&patient=20931",
}
