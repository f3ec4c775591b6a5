"""From an incoming event to what the privacy manager is told: a :class:`Notice`, or nothing.

A notice carries only facts that are not personal data: request ids and references, types,
statuses, deadlines, system ids, policy versions, for a breach its reference, counts, data
categories and times, and for a dead letter its coordinates and the reason. Never a subject id, a name, a free-text reason written about a person, or the bytes of a
dead-lettered message (they may hold anything).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from aiokafka import ConsumerRecord
from pydantic import ValidationError

from services.notifier.kinds import Kind
from shared import jsonbytes
from shared.cloudevents import CloudEvent, from_kafka
from shared.consumer import Reject
from shared.events import (
    BreachClosed,
    BreachDeadlineApproaching,
    BreachEvent,
    BreachOverdue,
    BreachPeopleNotified,
    BreachRecorded,
    BreachRegulatorReported,
    BreachUpdated,
    ConsentWithdrawalRecorded,
    DestructionOverdue,
    PolicyPublished,
    RequestAcknowledgementOverdue,
    RequestApproved,
    RequestCompleted,
    RequestDeadlineApproaching,
    RequestEvent,
    RequestExtended,
    RequestInformationNeeded,
    RequestOverdue,
    RequestReceived,
    RequestRejected,
    RequestTaskUnanswered,
    RequestVerified,
    RequestWithdrawn,
    Topic,
)

DLQ_PREFIX = "dongui-dlq-"


@dataclass(frozen=True)
class Notice:
    """One thing to tell, before it is addressed to recipients. ``key`` makes it idempotent."""

    key: str
    kind: Kind
    event_type: str
    occurred_at: datetime
    facts: dict[str, Any] = field(default_factory=dict)
    request_id: str | None = None
    reference: str | None = None
    due_at: datetime | None = None
    #: What the requester is told of it too (by the channel they gave), if anything.
    requester_kind: Kind | None = None


@dataclass(frozen=True)
class Withdrawal:
    """A recorded consent withdrawal, kept (without the person) until the next daily digest."""

    event_id: str
    purpose: str
    recorded_at: datetime


# Request lifecycle events the notifier knows, and the kind each one is (None: decided below).
REQUEST_EVENTS: dict[str, tuple[type[RequestEvent], Kind | None]] = {
    RequestReceived.event_type: (RequestReceived, None),
    RequestVerified.event_type: (RequestVerified, Kind.awaiting_decision),
    RequestApproved.event_type: (RequestApproved, Kind.request_approved),
    RequestRejected.event_type: (RequestRejected, Kind.request_rejected),
    RequestExtended.event_type: (RequestExtended, Kind.request_extended),
    RequestCompleted.event_type: (RequestCompleted, Kind.request_completed),
    RequestWithdrawn.event_type: (RequestWithdrawn, Kind.request_withdrawn),
    RequestDeadlineApproaching.event_type: (RequestDeadlineApproaching, Kind.deadline_approaching),
    RequestOverdue.event_type: (RequestOverdue, Kind.deadline_missed),
    RequestTaskUnanswered.event_type: (RequestTaskUnanswered, Kind.task_unanswered),
    RequestInformationNeeded.event_type: (RequestInformationNeeded, Kind.information_needed),
    RequestAcknowledgementOverdue.event_type: (RequestAcknowledgementOverdue, Kind.acknowledgement_overdue),
}

# What the requester is told, and of which events: received (with the reference and the deadline),
# extended and refused (with the ground and how to object; a refusal with the remedies), what is
# still needed from them, and that the result is ready (a link, never the data).
REQUESTER_EVENTS: dict[str, Kind] = {
    RequestReceived.event_type: Kind.requester_received,
    RequestExtended.event_type: Kind.requester_extended,
    RequestRejected.event_type: Kind.requester_rejected,
    RequestInformationNeeded.event_type: Kind.requester_information_needed,
    RequestCompleted.event_type: Kind.requester_result_ready,
}

# The breach register's events, and the kind each one is. Their facts are the events' own (codes,
# counts and times: the events carry nothing personal).
BREACH_EVENTS: dict[str, tuple[type[BreachEvent], Kind]] = {
    BreachRecorded.event_type: (BreachRecorded, Kind.breach_recorded),
    BreachUpdated.event_type: (BreachUpdated, Kind.breach_updated),
    BreachDeadlineApproaching.event_type: (BreachDeadlineApproaching, Kind.breach_deadline_approaching),
    BreachOverdue.event_type: (BreachOverdue, Kind.breach_overdue),
    BreachPeopleNotified.event_type: (BreachPeopleNotified, Kind.breach_people_notified),
    BreachRegulatorReported.event_type: (BreachRegulatorReported, Kind.breach_regulator_reported),
    BreachClosed.event_type: (BreachClosed, Kind.breach_closed),
}

# The extra facts each request event contributes (all free of personal data: ids and codes of the
# catalogues, dates). ``legal_ground`` and an extension's ``reason`` are free text written about the
# person's case: they stay in the request service, one click away, and are never told the requester
# by message (the ground's own words are, from shared/rules/grounds.yaml).
_EXTRA_FACTS = ("channel", "waiting_for", "objects_to", "method", "decided_by", "threshold",
                "task_id", "system_id", "attempts", "previous_due_at", "outcome", "ground", "remedies", "needed",
                "acknowledge_by")


def _validate(model, envelope: CloudEvent):
    try:
        return model.model_validate(envelope.data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise Reject(f"invalid {envelope.type} data: data.{where}: {first['msg']}") from None


def plan(topic: str, envelope: CloudEvent) -> Notice | Withdrawal | None:
    """What an event on consent.events or dsr.events means here; None if nothing.

    Events of other types are valid events for other services: ignored. A known type whose data
    is invalid is refused (:class:`Reject`), before anything is written.
    """
    if topic == Topic.dsr_events and envelope.type in REQUEST_EVENTS:
        model, kind = REQUEST_EVENTS[envelope.type]
        event: RequestEvent = _validate(model, envelope)
        if kind is Kind.awaiting_decision and event.status != "in_review":
            return None  # carried out on verification (a withdrawal): no decision is due
        return _request_notice(envelope, event, kind)
    if topic == Topic.dsr_events and envelope.type in BREACH_EVENTS:
        breach_model, breach_kind = BREACH_EVENTS[envelope.type]
        breach: BreachEvent = _validate(breach_model, envelope)
        # The deadline is the breach's 72 hours; the reference names it (never a person).
        facts = {**breach.model_dump(mode="json"), "due_at": breach.model_dump(mode="json")["notify_by"]}
        return Notice(key=envelope.id, kind=breach_kind, event_type=envelope.type, occurred_at=breach.at,
                      facts=facts, reference=breach.reference, due_at=breach.notify_by)
    if topic == Topic.dsr_events and envelope.type == DestructionOverdue.event_type:
        late: DestructionOverdue = _validate(DestructionOverdue, envelope)
        # Codes, system ids and times; never the subject.
        facts = late.model_dump(mode="json", include={"destruction_id", "reference", "trigger", "purposes",
                                                      "categories", "classes", "due_at", "at"})
        facts["systems_outstanding"] = late.outstanding
        return Notice(key=envelope.id, kind=Kind.destruction_overdue, event_type=envelope.type, occurred_at=late.at,
                      facts=facts, reference=late.reference, due_at=late.due_at)
    if topic == Topic.consent_events and envelope.type == PolicyPublished.event_type:
        policy: PolicyPublished = _validate(PolicyPublished, envelope)
        return Notice(
            key=envelope.id, kind=Kind.policy_published, event_type=envelope.type,
            occurred_at=policy.published_at,
            facts=policy.model_dump(mode="json", include={"policy_id", "version", "effective_at", "published_at",
                                                          "published_by", "purposes"}),
        )
    if topic == Topic.consent_events and envelope.type == ConsentWithdrawalRecorded.event_type:
        withdrawal: ConsentWithdrawalRecorded = _validate(ConsentWithdrawalRecorded, envelope)
        return Withdrawal(event_id=envelope.id, purpose=withdrawal.purpose, recorded_at=withdrawal.recorded_at)
    return None


def _request_kind(event: RequestEvent, kind: Kind | None) -> Kind:
    if kind is not None:
        return kind
    assert isinstance(event, RequestReceived)
    if event.type == "objection":
        return Kind.objection_filed
    if event.child_own_request:
        return Kind.child_request
    if event.by_guardian:
        return Kind.guardian_request
    return Kind.request_received


def _request_notice(envelope: CloudEvent, event: RequestEvent, kind: Kind | None) -> Notice:
    data = event.model_dump(mode="json")
    facts = {name: data[name] for name in ("request_id", "reference", "type", "status", "jurisdiction",
                                           "language", "by_guardian", "child_own_request", "due_at")}
    facts.update({name: data[name] for name in _EXTRA_FACTS if name in data and data[name] is not None})
    return Notice(
        key=envelope.id, kind=_request_kind(event, kind), event_type=envelope.type,
        occurred_at=event.occurred_at, facts=facts, request_id=event.request_id,
        reference=event.reference, due_at=event.due_at, requester_kind=REQUESTER_EVENTS.get(envelope.type),
    )


def digest_notice(day: date, counts: list[dict[str, Any]], timezone: str) -> Notice:
    return Notice(
        key=f"digest:{day.isoformat()}", kind=Kind.withdrawal_digest, event_type="notifier.withdrawal_digest",
        occurred_at=datetime.now(UTC),
        facts={"day": day.isoformat(), "timezone": timezone, "total": sum(c["count"] for c in counts),
               "counts": counts},
    )


# --- dead letters: every message becomes a notice, whatever it holds ---------------------------


def clean(value: Any, limit: int = 500) -> str | None:
    """Text safe to store and show: decoded, without NUL and control bytes, bounded."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    text = "".join(ch if ch in "\n\t" or ch.isprintable() else " " for ch in str(value)).strip()
    return text[:limit] if text else None


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _headers(record: ConsumerRecord) -> list[tuple[str, bytes]]:
    out = []
    for name, value in record.headers or ():
        try:
            out.append((str(name), bytes(value or b"")))
        except Exception:  # a header we cannot even read is skipped, not fatal
            continue
    return out


def dead_letter_key(record: ConsumerRecord) -> str:
    """Idempotency key of a dead letter: the same record redelivered gives the same key.

    Offsets alone are not enough: a development broker that restarts empty reuses them, and the
    notifier's database outlives it. The record's timestamp and content make the key unique.
    """
    digest = hashlib.sha256()
    digest.update(f"{record.partition}/{record.offset}/{record.timestamp}".encode())
    for part in (record.key, record.value):
        digest.update(b"\x00" + (part or b""))
    for name, value in _headers(record):
        digest.update(b"\x01" + name.encode("utf-8", "replace") + b"=" + value)
    return f"dlq:{digest.hexdigest()[:40]}"


def _origin(record: ConsumerRecord, original_headers: list[tuple[str, bytes]]) -> dict[str, str | None]:
    """Best effort: which system sent the refused message, as what (CloudEvent source, type, id)."""
    try:
        event = from_kafka(record.value, original_headers, record.key)
        return {"source": clean(event.source, 200), "event_type": clean(event.type, 200),
                "event_id": clean(event.id, 200)}
    except Exception:
        pass
    found: dict[str, str | None] = {"source": None, "event_type": None, "event_id": None}
    headers = {name.lower(): value for name, value in original_headers}
    for field_name, header in (("source", "ce_source"), ("event_type", "ce_type"), ("event_id", "ce_id")):
        found[field_name] = clean(headers.get(header), 200)
    try:
        raw = jsonbytes.loads(record.value or b"")  # a message nested too deep is refused unread
        if isinstance(raw, dict):
            for field_name, attribute in (("source", "source"), ("event_type", "type"), ("event_id", "id")):
                if found[field_name] is None and isinstance(raw.get(attribute), str):
                    found[field_name] = clean(raw[attribute], 200)
    except Exception:
        pass
    return found


def dead_letter_notice(record: ConsumerRecord, *, fallback_reason: str | None = None) -> Notice:
    """A notice for any record of privacy.dead-letter. Never raises for the record's content.

    ``fallback_reason``: the notifier itself could not process the record; say so, with nothing
    but the record's coordinates.
    """
    headers = _headers(record)
    dlq = {name[len(DLQ_PREFIX):]: value.decode("utf-8", "replace") for name, value in headers
           if name.startswith(DLQ_PREFIX)}
    original = [(name, value) for name, value in headers if not name.startswith(DLQ_PREFIX)]
    origin = {"source": None, "event_type": None, "event_id": None} if fallback_reason else _origin(record, original)
    reason = clean(fallback_reason or dlq.get("reason"), 2000) or "no reason was given"
    at = None
    try:
        at = datetime.fromisoformat(dlq["at"]) if "at" in dlq else None
        if at is not None and at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
    except ValueError:
        at = None
    if at is None:
        try:
            at = datetime.fromtimestamp(record.timestamp / 1000, UTC)
        except Exception:
            at = datetime.now(UTC)
    facts = {
        "topic": clean(dlq.get("topic"), 200),
        "partition": _int(dlq.get("partition")),
        "offset": _int(dlq.get("offset")),
        "consumer": clean(dlq.get("consumer"), 200),
        "reason": reason,
        "dead_lettered_at": at.isoformat(),
        **origin,
        "dead_letter_partition": record.partition,
        "dead_letter_offset": record.offset,
    }
    return Notice(key=dead_letter_key(record), kind=Kind.dead_letter, event_type="privacy.dead-letter",
                  occurred_at=at, facts=facts)
