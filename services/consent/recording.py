"""Recording consent events: the one write path of the ledger.

HTTP (through :class:`services.consent.grouping.GroupCommit`), ``consent.inbound`` and the
withdrawals asked through a request all come to :meth:`Recording.record_many`; a single event is a
batch of one. So an event means the same whichever way it arrived: same validation, same
idempotency, same ledger row, projection and outgoing event.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

import asyncpg
from pydantic import ValidationError

from services.consent import domain, store
from services.consent.errors import (
    BirthDateAfterEvent,
    BirthDateRequired,
    EventInFuture,
    PurposeNotCovered,
    RepresentativeMustGrant,
    SubjectDestroyed,
    SubjectMismatch,
    TextNotUnicode,
    UnknownEventType,
    UnknownPolicyVersion,
    UnknownPurpose,
)
from services.consent.policies import SOURCE, Policies
from services.consent.settings import ConsentSettings
from services.consent.transit import TransitKeys
from shared import outbox
from shared.cloudevents import CloudEvent, json_time
from shared.crypto import SubjectCipher, SubjectKeys
from shared.digests import sha256_hex
from shared.events import (
    ConsentDeclineRecorded,
    ConsentEventData,
    ConsentGrantRecorded,
    ConsentWithdrawalRecorded,
)
from shared.problems import Conflict, Problem, validation_problem

RecordedModel = type[ConsentGrantRecorded] | type[ConsentDeclineRecorded] | type[ConsentWithdrawalRecorded]
CONSENT_TYPES: dict[str, tuple[str, RecordedModel]] = {
    "consent.granted": ("granted", ConsentGrantRecorded),
    "consent.declined": ("declined", ConsentDeclineRecorded),
    "consent.withdrawn": ("withdrawn", ConsentWithdrawalRecorded),
}
#: The ledger columns an outgoing consent.events event carries (with source_event_id = event_id),
#: and the fields of its data in the models' order.
_RECORDED_FROM_ROW = (
    "record_id", "subject_id", "sequence", "purpose", "decision", "policy_id", "policy_version",
    "language", "notice_hash", "method", "actor_role", "jurisdiction", "occurred_at", "recorded_at",
    "source", "record_hash",
)
_RECORDED_FIELDS = tuple(ConsentGrantRecorded.model_fields)
assert all(tuple(model.model_fields) == _RECORDED_FIELDS for _, model in CONSENT_TYPES.values())
assert set(_RECORDED_FIELDS) == {*_RECORDED_FROM_ROW, "source_event_id"}


@dataclass
class Recorded:
    """A consent event's ledger row, and whether this call wrote it (False: an exact replay)."""

    row: dict[str, Any]
    created: bool
    #: The subject's cipher when it is at hand (the row was just written), to open ``personal``.
    cipher: SubjectCipher | None = None


class Checked(NamedTuple):
    """What the rules decided about a new event before anything is written for it."""

    decision: str
    recorded_model: RecordedModel
    occurred_at: datetime
    policy: asyncpg.Record
    requirement: domain.Requirement
    now: datetime
    #: The purpose's legal basis as the catalogue says when the record is made, kept and chained.
    legal_basis: str


class _Item(NamedTuple):
    """An event of a batch that passed the rules: where it is in the batch, and what it is."""

    position: int
    envelope: CloudEvent
    data: ConsentEventData
    digest: str
    checked: Checked


def refusal(problem: Problem) -> str:
    """A refusal as the consumer's dead letter states it."""
    return f"{problem.status} {problem.title}: {problem.detail}"


class Recording:
    def __init__(self, settings: ConsentSettings, policies: Policies, keys: SubjectKeys, transit: TransitKeys,
                 clock: Callable[[], datetime]) -> None:
        self.settings = settings
        self.policies = policies
        self.transit = transit
        self.purposes = policies.purposes
        self.keys = keys
        self.clock = clock
        self.zone = settings.zone

    # --- recording ----------------------------------------------------------------------------

    def normalize(self, envelope: CloudEvent) -> tuple[ConsentEventData, str]:
        """Validate an envelope as a consent event; return its data and the event's digest.

        The digest that decides "same event or conflict" is taken over the event with its data in
        canonical form (the model's JSON), so the same event compares equal whether it came over
        HTTP or Kafka, structured or binary.
        """
        if envelope.type not in CONSENT_TYPES:
            raise UnknownEventType(f"Unknown event type '{envelope.type}'; expected one of {', '.join(CONSENT_TYPES)}.")
        try:
            data = ConsentEventData.model_validate(envelope.data)
        except ValidationError as exc:
            raise validation_problem(
                [{**e, "loc": ("data", *e["loc"])} for e in exc.errors()]
            ) from None
        if envelope.subject is not None and envelope.subject != data.subject_id:
            raise SubjectMismatch(
                f"The CloudEvent subject '{envelope.subject}' is not data.subject_id '{data.subject_id}'."
            )
        try:
            return data, envelope.digest(data=data.model_dump(mode="json"))
        except UnicodeEncodeError:  # JSON may escape a lone surrogate (\ud800); UTF-8 cannot hold it
            raise TextNotUnicode(
                "The event holds text that is not valid Unicode (a lone surrogate, such as \\ud800); "
                "send every string as valid UTF-8."
            ) from None

    async def record_batch(self, conn: asyncpg.Connection, envelopes: list[CloudEvent | str]) -> list[str | None]:
        """Record a consumer's batch (:meth:`record_many`). ``envelopes`` holds a CloudEvent, or the
        reason it could not be read. Returns, per item, None (recorded, or an exact replay: nothing
        to do) or the reason it is refused."""
        reasons: list[str | None] = [e if isinstance(e, str) else None for e in envelopes]
        readable = [(i, e) for i, e in enumerate(envelopes) if not isinstance(e, str)]
        outcomes = await self.record_many(conn, [e for _, e in readable], via="kafka")
        for (i, _), outcome in zip(readable, outcomes, strict=True):
            if isinstance(outcome, Problem):
                reasons[i] = refusal(outcome)
        return reasons

    async def record_many(self, conn: asyncpg.Connection, envelopes: list[CloudEvent], *,
                          via: str) -> list[Recorded | Problem]:
        """Record consent events, a few statements for all of them, in the order given.

        Returns, per event, its :class:`Recorded` (new, or the original row of an exact replay) or
        the Problem that refuses it (the same id with different content is a Conflict). Every
        refusal is decided before anything is written, so a refused event leaves nothing behind
        (the Kafka consumer relies on it); the caller commits.
        """
        outcomes: list[Recorded | Problem | None] = [None] * len(envelopes)
        fresh: list[tuple[int, CloudEvent, ConsentEventData, str]] = []
        first: dict[str, int] = {}  # event id -> the first item carrying it in this batch
        again: list[tuple[int, int, str]] = []  # (item, first item, digest) for a repeated id
        for i, envelope in enumerate(envelopes):
            try:
                # Sealed personal fields are opened first: the digest is over the opened event, so
                # the same event sealed twice (a new nonce each time) is still the same event.
                envelope = await self.transit.unseal(conn, envelope)
                data, digest = self.normalize(envelope)
            except Problem as exc:
                outcomes[i] = exc
                continue
            if envelope.id in first:
                again.append((i, first[envelope.id], digest))
                continue
            first[envelope.id] = i
            fresh.append((i, envelope, data, digest))
        accepted: list[_Item] = []
        if fresh:
            # Invariant 4: event ids are serialised (sorted: two batches never wait on each other
            # in a cycle); the same id may arrive at once over HTTP and Kafka.
            ids = [envelope.id for _, envelope, _, _ in fresh]
            await store.lock_event_ids(conn, ids)
            existing = await store.records_by_event_ids(conn, ids)
            for i, envelope, data, digest in fresh:
                known = existing.get(envelope.id)
                try:
                    if known is not None:
                        outcomes[i] = Recorded(self._same_or_conflict(known, digest), created=False)
                    else:
                        accepted.append(_Item(i, envelope, data, digest, await self._checked(conn, envelope, data)))
                except Problem as exc:
                    outcomes[i] = exc
        ciphers: dict[str, SubjectCipher | None] = {}
        if accepted:
            ciphers = await self.keys.ciphers(conn, [item.data.subject_id for item in accepted])
            for item in accepted:
                if ciphers.get(item.data.subject_id) is None:
                    outcomes[item.position] = self._destroyed(item.data.subject_id)
            accepted = [item for item in accepted if outcomes[item.position] is None]
        if accepted:
            # From here on nothing is refused: write the whole batch.
            await self._write(conn, accepted, ciphers, outcomes, via=via)
        # An id repeated within the batch is what a second call with it would be: a replay of the
        # first (200 with its record), a conflict, or the same refusal.
        for i, j, digest in again:
            earlier = outcomes[j]
            if isinstance(earlier, Recorded):
                try:
                    outcomes[i] = Recorded(self._same_or_conflict(earlier.row, digest), created=False,
                                           cipher=earlier.cipher)
                except Conflict as exc:
                    outcomes[i] = exc
            else:
                outcomes[i] = earlier
        return [outcome for outcome in outcomes if outcome is not None]  # every item has one by now

    async def _write(self, conn: asyncpg.Connection, accepted: list[_Item], ciphers: dict[str, SubjectCipher | None],
                     outcomes: list[Recorded | Problem | None], *, via: str) -> None:
        """The ledger rows of the accepted events, chained per subject in order, their states and
        outgoing events: two statements after the subjects' heads are locked."""
        heads = await store.lock_subject_heads(conn, [item.data.subject_id for item in accepted])
        states = await store.states_of(conn, [(item.data.subject_id, item.data.purpose) for item in accepted])
        rows, events, changed = [], [], {}
        for item in accepted:
            subject_id = item.data.subject_id
            sequence, prev_hash = heads[subject_id]
            cipher = ciphers[subject_id]
            assert cipher is not None  # a destroyed subject's event was refused
            row = self._ledger_row(item, cipher, sequence, prev_hash, via=via)
            heads[subject_id] = (row["sequence"], row["record_hash"])
            rows.append(row)
            outcomes[item.position] = Recorded(row, created=True, cipher=cipher)
            key = (subject_id, item.data.purpose)
            state = state_after(row, states.get(key))
            if state is not None:
                states[key] = changed[key] = state
            events.append(recorded_event(row, item.checked.recorded_model))
        await store.write_batch(conn, rows, heads, list(changed.values()))
        await outbox.enqueue_many(conn, events)

    async def _checked(self, conn: asyncpg.Connection, envelope: CloudEvent, data: ConsentEventData) -> Checked:
        """The rules a new event must pass before anything is written for it; raises the Problem."""
        decision, recorded_model = CONSENT_TYPES[envelope.type]
        now = self.clock()
        occurred_at = (envelope.time or now).astimezone(UTC)
        if occurred_at > now + self.settings.max_clock_skew:
            raise EventInFuture("The event's time is in the future; a consent decision can only be recorded once made.")
        if data.purpose not in self.purposes:
            raise UnknownPurpose(f"Unknown purpose '{data.purpose}'. Known purposes: {', '.join(self.purposes)}.")
        policy = await self.policies.version(conn, data.policy_id, data.policy_version)
        if policy is None:
            raise UnknownPolicyVersion(
                f"Policy '{data.policy_id}' has no version '{data.policy_version}'; publish it before recording consent to it."
            )
        if data.purpose not in policy["purposes"]:
            raise PurposeNotCovered(
                f"Version {data.policy_version} of policy '{data.policy_id}' does not cover the purpose "
                f"'{data.purpose}'; consent can only be given to a purpose the person was told about."
            )
        requirement = self._requirement(envelope.type, data, occurred_at)
        return Checked(decision, recorded_model, occurred_at, policy, requirement, now,
                       self.purposes[data.purpose].legal_basis)

    @staticmethod
    def _destroyed(subject_id: str) -> SubjectDestroyed:
        return SubjectDestroyed(
            f"The personal data of subject '{subject_id}' was destroyed; record consent under a new subject id."
        )

    def _requirement(self, event_type: str, data: ConsentEventData, occurred_at: datetime) -> domain.Requirement:
        if data.subject_birth_date is None:
            if event_type == "consent.granted":
                raise BirthDateRequired(
                    "subject_birth_date is needed to record a grant: the age rule decides who may consent."
                )
            return "self"
        day = occurred_at.astimezone(self.zone).date()
        if data.subject_birth_date > day:
            raise BirthDateAfterEvent("subject_birth_date is after the day of the event.")
        rule = domain.age_rule(data.jurisdiction, domain.age_on(data.subject_birth_date, day))
        if event_type == "consent.granted" and rule.requirement == "representative" and data.actor.role == "self":
            raise RepresentativeMustGrant(
                f"This person was {domain.age_on(data.subject_birth_date, day)} on {day.isoformat()}: "
                f"{rule.explanation}. Send the grant with actor.role 'legal_representative', the "
                f"representative's name and relationship."
            )
        return rule.requirement

    @staticmethod
    def _same_or_conflict(existing: asyncpg.Record | dict[str, Any], digest: str) -> dict[str, Any]:
        if existing["event_digest"] != digest:
            raise Conflict(
                f"An event with id '{existing['event_id']}' was already recorded with different content; "
                f"an event id may be reused only for an exact replay.",
                record_id=str(existing["record_id"]),
            )
        return dict(existing)

    @staticmethod
    def _ledger_row(item: _Item, cipher: SubjectCipher, sequence: int, prev_hash: str, *, via: str) -> dict[str, Any]:
        """The new ledger row, sealed and chained after (sequence, prev_hash)."""
        envelope, data, checked = item.envelope, item.data, item.checked
        record_id = str(uuid.uuid4())
        personal = cipher.seal(
            {
                "subject_birth_date": data.subject_birth_date.isoformat() if data.subject_birth_date else None,
                "actor": data.actor.model_dump(mode="json"),
                "evidence": data.evidence,
            },
            context=record_id,
        )
        row: dict[str, Any] = {
            "record_id": record_id,
            "subject_id": data.subject_id,
            "sequence": sequence + 1,
            "event_id": envelope.id,
            "event_digest": item.digest,
            "source": envelope.source,
            "received_via": via,
            "decision": checked.decision,
            "purpose": data.purpose,
            "policy_id": data.policy_id,
            "policy_version": data.policy_version,
            "language": data.language,
            "notice_hash": checked.policy["text_hashes"][data.language],
            "method": data.method,
            "actor_role": data.actor.role,
            "jurisdiction": data.jurisdiction,
            "requirement": checked.requirement,
            "occurred_at": checked.occurred_at,
            "recorded_at": checked.now.astimezone(UTC),
            "personal": personal,
            "personal_digest": sha256_hex(personal),
            "prev_hash": prev_hash,
            "legal_basis": checked.legal_basis,
        }
        row["record_hash"] = domain.chain_hash(prev_hash, domain.chained_view(row))
        return row


def recorded_event(row: dict[str, Any], recorded_model: RecordedModel) -> outbox.Outgoing:
    """The outgoing consent.events event of a new ledger row, in JSON form without building the
    model (the row was just built here from validated values): the model's JSON, key for key and
    in the model's field order (``tests/consent/test_hot_path.py`` checks it against the model)."""
    data = {k: row[k] for k in _RECORDED_FROM_ROW}
    data["record_id"] = str(data["record_id"])
    data["occurred_at"] = json_time(data["occurred_at"])
    data["recorded_at"] = json_time(data["recorded_at"])
    data["source_event_id"] = row["event_id"]
    ordered = {k: data[k] for k in _RECORDED_FIELDS}
    return outbox.Outgoing(recorded_model.topic, recorded_model.event_type, row["subject_id"], ordered, SOURCE)


def state_after(row: dict[str, Any], current: asyncpg.Record | dict[str, Any] | None) -> dict[str, Any] | None:
    """The state of (subject, purpose) after a new ledger row; None if it stays as it is."""
    # Clinic systems may deliver late: an older decision never overrides a newer one.
    if current is not None and current["decided_at"] > row["occurred_at"]:
        return None
    granted = row["decision"] == "granted"
    by_self = row["actor_role"] == "self"
    # A grant keeps who else had granted (joint consent needs both the child and the representative).
    kept = current if current is not None and current["decision"] == "granted" and granted else None
    return {
        "subject_id": row["subject_id"],
        "purpose": row["purpose"],
        "decision": row["decision"],
        "requirement": row["requirement"],
        "self_granted": granted and (by_self or (kept is not None and kept["self_granted"])),
        "representative_granted": granted and (not by_self or (kept is not None and kept["representative_granted"])),
        "record_id": row["record_id"],
        "decided_at": row["occurred_at"],
    }
