"""The consent service's rules, applied on the caller's connection (never committing itself).

HTTP endpoints and the Kafka consumer both come here, so an event means the same whichever way
it arrived: same validation, same idempotency, same ledger row, same outgoing event.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
from pydantic import ValidationError

from services.consent import domain, store
from services.consent.schemas import (
    ActorOut,
    ChainProblem,
    ChainVerification,
    ConsentRecordOut,
    HoldOut,
    PermissionOut,
    PolicyVersion,
    PublishPolicy,
    PurposeState,
    SubjectConsents,
)
from services.consent.settings import ConsentSettings
from shared import outbox
from shared.cloudevents import CloudEvent, json_time
from shared.crypto import KeyDestroyed, SubjectKeys
from shared.db import ReadLane
from shared.events import (
    ConsentDeclineRecorded,
    ConsentEventData,
    ConsentGrantRecorded,
    ConsentWithdrawalRecorded,
    PolicyPublished,
    SubjectConsentWithdrawalRequested,
    SubjectErasureApproved,
    SubjectHoldPlaced,
    SubjectHoldReleased,
)
from shared.problems import Conflict, Gone, InvalidInput, NotFound, Problem, validation_problem
from shared.retention import RETENTION_CLASSES
from shared.sealing import SealedDataError, unseal_data

log = logging.getLogger(__name__)

SOURCE = "dongui/consent"
#: The source of the withdrawals recorded for a data-subject request (subject.consent_withdrawal.requested).
DSR_SOURCE = "dongui/dsr"
#: subject.consent_withdrawal.requested names no representative: the request service verified
#: who they are, and the request (its id is in the evidence) holds their identity.
REQUEST_REPRESENTATIVE = {"name": "verified by the request service", "relationship": "legal representative"}
CONSENT_TYPES = {
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


#: Ledger columns shown as they are stored (the personal ones are opened separately).
_RECORD_OUT_COLUMNS = (
    "subject_id", "sequence", "decision", "purpose", "policy_id", "policy_version", "language",
    "notice_hash", "method", "jurisdiction", "requirement", "occurred_at", "recorded_at",
    "event_id", "source", "received_via", "prev_hash", "record_hash",
)


def sha256(text: str | bytes) -> str:
    return hashlib.sha256(text.encode() if isinstance(text, str) else text).hexdigest()


class ConsentService:
    def __init__(
        self,
        settings: ConsentSettings,
        purposes: dict[str, domain.Purpose],
        keys: SubjectKeys,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self.purposes = purposes
        self.keys = keys
        #: Keys of the personal fields sealed on Kafka (shared/sealing.py), issued to clinic systems.
        self.transit_keys = keys.other_kind(table="transit_keys", label="transit-key")
        self.clock = clock
        self.zone = ZoneInfo(settings.timezone)
        # Published policy versions never change, so they can be kept once read.
        self._policies: dict[tuple[str, str], asyncpg.Record] = {}

    # --- purposes and policies ---------------------------------------------------------------

    def purpose(self, purpose_id: str) -> domain.Purpose:
        purpose = self.purposes.get(purpose_id)
        if purpose is None:
            raise NotFound(f"There is no purpose '{purpose_id}'. Known purposes: {', '.join(self.purposes)}.")
        return purpose

    async def publish_policy(self, conn: asyncpg.Connection, command: PublishPolicy, *, by: str) -> PolicyVersion:
        unknown = [p for p in command.purposes if p not in self.purposes]
        if unknown:
            raise InvalidInput(
                f"Unknown purposes: {', '.join(unknown)}. A policy may cover only purposes of the catalogue.",
                errors=[{"field": "purposes", "message": f"unknown purpose {p}"} for p in unknown],
            )
        now = self.clock()
        await store.lock_policy_id(conn, command.policy_id)
        existing = await store.policy_versions(conn, command.policy_id)
        if any(row["version"] == command.version for row in existing):
            raise Conflict(f"Version {command.version} of policy {command.policy_id} is already published; publish a new version.")
        notice = self.settings.policy_notice_period
        if existing and command.effective_at < now + notice:
            raise InvalidInput(
                f"A new version of a published policy must take effect at least {notice.days} days after it is "
                f"published, so that people are told in advance (policy section 12): effective_at must be on or "
                f"after {(now + notice).isoformat(timespec='seconds')}.",
                errors=[{"field": "effective_at", "message": f"at least {notice.days} days after publishing"}],
            )
        texts = command.texts.model_dump()
        row = {
            "policy_id": command.policy_id,
            "version": command.version,
            "effective_at": command.effective_at,
            "published_at": now,
            "published_by": by,
            "texts": texts,
            "text_hashes": {lang: sha256(text) for lang, text in texts.items()},
            "purposes": command.purposes,
        }
        await store.insert_policy(conn, row)
        await outbox.enqueue(
            conn,
            PolicyPublished(
                policy_id=row["policy_id"], version=row["version"], effective_at=row["effective_at"],
                published_at=now, published_by=by, purposes=row["purposes"], text_hashes=row["text_hashes"],
            ),
            source=SOURCE,
        )
        versions = await self.policy_versions(conn, command.policy_id)
        return next(v for v in versions if v.version == command.version)

    async def policy_versions(self, conn: asyncpg.Connection, policy_id: str) -> list[PolicyVersion]:
        rows = await store.policy_versions(conn, policy_id)
        if not rows:
            raise NotFound(f"There is no policy '{policy_id}'.")
        now = self.clock()
        effective = [r for r in rows if r["effective_at"] <= now]
        current = max(effective, key=lambda r: r["effective_at"])["version"] if effective else None
        return [
            PolicyVersion(**dict(r), in_effect=r["version"] == current) for r in rows
        ]

    async def _policy(self, conn: asyncpg.Connection, policy_id: str, version: str) -> asyncpg.Record | None:
        key = (policy_id, version)
        if key not in self._policies:
            row = await store.policy(conn, policy_id, version)
            if row is None:
                return None
            self._policies[key] = row
        return self._policies[key]

    # --- transit keys: personal fields sealed on Kafka ---------------------------------------

    async def transit_key(self, conn: asyncpg.Connection, subject_id: str) -> bytes:
        """The subject's transit key, issued now if they have none. Gone once they are erased."""
        try:
            return await self.transit_keys.key(conn, subject_id, create=True)
        except KeyDestroyed:
            raise Gone(
                f"Subject '{subject_id}' was erased: their transit key was destroyed and no new one is issued. "
                "Send no personal data about them."
            ) from None

    async def unseal(self, conn: asyncpg.Connection, envelope: CloudEvent) -> CloudEvent:
        """The envelope with ``data.sealed`` opened and merged into ``data`` (no-op when absent)."""

        async def key_for(subject_id: str) -> bytes:
            try:
                key = await self.transit_keys.key(conn, subject_id, create=False)
            except KeyDestroyed:
                raise SealedDataError(
                    f"The transit key of subject '{subject_id}' was destroyed (erasure): data.sealed can never be opened."
                ) from None
            if key is None:
                raise SealedDataError(
                    f"No transit key was issued for subject '{subject_id}'; get one with "
                    f"POST /v1/subjects/{subject_id}/transit-key before sealing."
                )
            return key

        try:
            data = await unseal_data(envelope.data, key_for)
        except SealedDataError as exc:
            raise InvalidInput(str(exc), errors=[{"field": "data.sealed", "message": str(exc)}]) from None
        return envelope if data is envelope.data else envelope.model_copy(update={"data": data})

    # --- recording consent events -------------------------------------------------------------

    def normalize(self, envelope: CloudEvent) -> tuple[ConsentEventData, str]:
        """Validate an envelope as a consent event; return its data and the event's digest.

        The digest that decides "same event or conflict" is taken over the event with its data in
        canonical form (the model's JSON), so the same event compares equal whether it came over
        HTTP or Kafka, structured or binary.
        """
        if envelope.type not in CONSENT_TYPES:
            raise InvalidInput(
                f"Unknown event type '{envelope.type}'; expected one of {', '.join(CONSENT_TYPES)}.",
                errors=[{"field": "type", "message": "unknown event type"}],
            )
        try:
            data = ConsentEventData.model_validate(envelope.data)
        except ValidationError as exc:
            raise validation_problem(
                [{**e, "loc": ("data", *e["loc"])} for e in exc.errors()]
            ) from None
        if envelope.subject is not None and envelope.subject != data.subject_id:
            raise InvalidInput(
                f"The CloudEvent subject '{envelope.subject}' is not data.subject_id '{data.subject_id}'.",
                errors=[{"field": "subject", "message": "must equal data.subject_id"}],
            )
        return data, envelope.digest(data=data.model_dump(mode="json"))

    async def record(
        self, conn: asyncpg.Connection, envelope: CloudEvent, *, via: str
    ) -> tuple[dict[str, Any], bool]:
        """Record one consent event. Returns (the ledger row, True if it is new).

        A replay of an event already recorded returns the original row and records nothing; the
        same id with different content is a conflict.
        """
        # Sealed personal fields are opened first: the digest is over the opened event, so the
        # same event sealed twice (a new nonce each time) is still the same event.
        envelope = await self.unseal(conn, envelope)
        data, digest = self.normalize(envelope)
        # The same id may arrive at once over HTTP and Kafka, for different subjects' chains.
        await store.lock_event_id(conn, envelope.id)
        existing = await store.record_by_event_id(conn, envelope.id)
        if existing is not None:
            return self._same_or_conflict(existing, digest), False

        checked = await self._checked(conn, envelope, data)
        # Every refusal above came before any write: the Kafka consumer relies on it.
        try:
            cipher = await self.keys.cipher(conn, data.subject_id, create=True)
        except KeyDestroyed:
            raise self._destroyed(data.subject_id) from None

        sequence, prev_hash = await store.lock_subject_head(conn, data.subject_id)
        row = self._ledger_row(envelope, data, digest, checked, cipher, sequence, prev_hash, via=via)
        await store.append_record(conn, row)
        await self._project(conn, row, data)
        await outbox.enqueue(conn, self._recorded_event(row, checked[1]), source=SOURCE)
        return row, True

    async def _checked(self, conn: asyncpg.Connection, envelope: CloudEvent, data: ConsentEventData) -> tuple:
        """The rules a new event must pass before anything is written for it; raises the Problem.

        Returns (decision, recorded event model, occurred_at, policy row, requirement, now).
        """
        decision, recorded_model = CONSENT_TYPES[envelope.type]
        now = self.clock()
        occurred_at = (envelope.time or now).astimezone(UTC)
        if occurred_at > now + self.settings.max_clock_skew:
            raise InvalidInput(
                "The event's time is in the future; a consent decision can only be recorded once made.",
                errors=[{"field": "time", "message": "in the future"}],
            )
        purpose = self.purposes.get(data.purpose)
        if purpose is None:
            raise InvalidInput(
                f"Unknown purpose '{data.purpose}'. Known purposes: {', '.join(self.purposes)}.",
                errors=[{"field": "data.purpose", "message": "unknown purpose"}],
            )
        policy = await self._policy(conn, data.policy_id, data.policy_version)
        if policy is None:
            raise InvalidInput(
                f"Policy '{data.policy_id}' has no version '{data.policy_version}'; publish it before recording consent to it.",
                errors=[{"field": "data.policy_version", "message": "unknown policy version"}],
            )
        if data.purpose not in policy["purposes"]:
            raise InvalidInput(
                f"Version {data.policy_version} of policy '{data.policy_id}' does not cover the purpose "
                f"'{data.purpose}'; consent can only be given to a purpose the person was told about.",
                errors=[{"field": "data.purpose", "message": "not covered by the policy version"}],
            )
        requirement = self._requirement(envelope.type, data, occurred_at)
        return decision, recorded_model, occurred_at, policy, requirement, now

    @staticmethod
    def _destroyed(subject_id: str) -> InvalidInput:
        return InvalidInput(
            f"The personal data of subject '{subject_id}' was destroyed; record consent under a new subject id.",
            errors=[{"field": "data.subject_id", "message": "destroyed subject"}],
        )

    def _ledger_row(self, envelope: CloudEvent, data: ConsentEventData, digest: str, checked: tuple,
                    cipher: Any, sequence: int, prev_hash: str, *, via: str) -> dict[str, Any]:
        """The new ledger row, sealed and chained after (sequence, prev_hash)."""
        decision, _, occurred_at, policy, requirement, now = checked
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
            "event_digest": digest,
            "source": envelope.source,
            "received_via": via,
            "decision": decision,
            "purpose": data.purpose,
            "policy_id": data.policy_id,
            "policy_version": data.policy_version,
            "language": data.language,
            "notice_hash": policy["text_hashes"][data.language],
            "method": data.method,
            "actor_role": data.actor.role,
            "jurisdiction": data.jurisdiction,
            "requirement": requirement,
            "occurred_at": occurred_at,
            "recorded_at": now.astimezone(UTC),
            "personal": personal,
            "personal_digest": sha256(personal),
            "prev_hash": prev_hash,
        }
        row["record_hash"] = domain.chain_hash(prev_hash, domain.chained_view(row))
        return row

    @staticmethod
    def _recorded_event(row: dict[str, Any], recorded_model: Any) -> Any:
        """The outgoing consent.events data of a new ledger row."""
        return recorded_model(**{k: row[k] for k in _RECORDED_FROM_ROW}, source_event_id=row["event_id"])

    @staticmethod
    def _recorded_outgoing(row: dict[str, Any], recorded_model: Any) -> outbox.Outgoing:
        """:meth:`_recorded_event` for a consumer batch's hot path, in JSON form without the model:
        the row was just built here from validated values. The same data, key for key and in the
        model's field order (``tests/consent/test_hot_path.py`` compares the two)."""
        data = {k: row[k] for k in _RECORDED_FROM_ROW}
        data["record_id"] = str(data["record_id"])
        data["occurred_at"] = json_time(data["occurred_at"])
        data["recorded_at"] = json_time(data["recorded_at"])
        data["source_event_id"] = row["event_id"]
        ordered = {k: data[k] for k in _RECORDED_FIELDS}
        return outbox.Outgoing(recorded_model.topic, recorded_model.event_type, row["subject_id"], ordered, SOURCE)

    async def record_batch(self, conn: asyncpg.Connection, envelopes: list[CloudEvent | str]) -> list[str | None]:
        """Record a consumer's batch (:meth:`record_many`). ``envelopes`` holds a CloudEvent, or the
        reason it could not be read. Returns, per item, None (recorded, or an exact replay: nothing
        to do) or the reason it is refused."""
        reasons: list[str | None] = [e if isinstance(e, str) else None for e in envelopes]
        readable = [i for i, e in enumerate(envelopes) if not isinstance(e, str)]
        outcomes = await self.record_many(conn, [envelopes[i] for i in readable], via="kafka")
        for i, outcome in zip(readable, outcomes, strict=True):
            if isinstance(outcome, Problem):
                reasons[i] = _reason(outcome)
        return reasons

    async def record_many(self, conn: asyncpg.Connection, envelopes: list[CloudEvent], *,
                          via: str) -> list[Recorded | Problem]:
        """Record many consent events with a few statements for all of them (a consumer's batch,
        or the HTTP calls that arrived together: :class:`services.consent.grouping.GroupCommit`).

        The same rules, ledger rows, chain, projection and outgoing events as :meth:`record` one
        at a time, in the order given. Returns, per event, what :meth:`record` would have returned
        (:class:`Recorded`) or raised (the Problem). Every refusal is decided before anything is
        written, so a refused event leaves nothing behind; the caller commits.
        """
        outcomes: list[Recorded | Problem | None] = [None] * len(envelopes)
        items: list[tuple[int, CloudEvent, ConsentEventData, str]] = []
        first: dict[str, int] = {}  # event id -> the first item carrying it in this batch
        again: list[tuple[int, int, str]] = []  # (item, first item, digest) for a repeated id
        for i, envelope in enumerate(envelopes):
            try:
                envelope = await self.unseal(conn, envelope)
                data, digest = self.normalize(envelope)
            except Problem as exc:
                outcomes[i] = exc
                continue
            if envelope.id in first:
                again.append((i, first[envelope.id], digest))
                continue
            first[envelope.id] = i
            items.append((i, envelope, data, digest))
        accepted: list[tuple[int, CloudEvent, ConsentEventData, str, tuple]] = []
        if items:
            # Invariant 4: event ids are serialised (sorted: two batches never wait on each other in a cycle).
            ids = [envelope.id for _, envelope, _, _ in items]
            await store.lock_event_ids(conn, ids)
            existing = await store.records_by_event_ids(conn, ids)
            for i, envelope, data, digest in items:
                known = existing.get(envelope.id)
                if known is not None:
                    try:
                        outcomes[i] = Recorded(self._same_or_conflict(known, digest), created=False)
                    except Conflict as exc:
                        outcomes[i] = exc
                    continue
                try:
                    checked = await self._checked(conn, envelope, data)
                except Problem as exc:
                    outcomes[i] = exc
                    continue
                accepted.append((i, envelope, data, digest, checked))
        if accepted:
            ciphers = await self.keys.ciphers(conn, [data.subject_id for _, _, data, _, _ in accepted])
            for i, _, data, _, _ in accepted:
                if ciphers.get(data.subject_id) is None:
                    outcomes[i] = self._destroyed(data.subject_id)
            accepted = [a for a in accepted if outcomes[a[0]] is None]
        if accepted:
            # From here on nothing is refused: write the whole batch.
            heads = await store.lock_subject_heads(conn, [data.subject_id for _, _, data, _, _ in accepted])
            states = await store.states_of(conn, [(data.subject_id, data.purpose) for _, _, data, _, _ in accepted])
            rows, events, changed = [], [], {}
            for i, envelope, data, digest, checked in accepted:
                sequence, prev_hash = heads[data.subject_id]
                cipher = ciphers[data.subject_id]
                row = self._ledger_row(envelope, data, digest, checked, cipher, sequence, prev_hash, via=via)
                heads[data.subject_id] = (row["sequence"], row["record_hash"])
                rows.append(row)
                outcomes[i] = Recorded(row, created=True, cipher=cipher)
                key = (data.subject_id, data.purpose)
                state = self._state_after(row, states.get(key))
                if state is not None:
                    states[key] = changed[key] = state
                events.append(self._recorded_outgoing(row, checked[1]))
            await store.write_batch(conn, rows, heads, list(changed.values()), events)
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
        return outcomes  # type: ignore[return-value]  (every item has its outcome by now)

    def _same_or_conflict(self, existing: asyncpg.Record, digest: str) -> dict[str, Any]:
        if existing["event_digest"] != digest:
            raise Conflict(
                f"An event with id '{existing['event_id']}' was already recorded with different content; "
                f"an event id may be reused only for an exact replay.",
                record_id=str(existing["record_id"]),
            )
        return dict(existing)

    def _requirement(self, event_type: str, data: ConsentEventData, occurred_at: datetime) -> domain.Requirement:
        if data.subject_birth_date is None:
            if event_type == "consent.granted":
                raise InvalidInput(
                    "subject_birth_date is needed to record a grant: the age rule decides who may consent.",
                    errors=[{"field": "data.subject_birth_date", "message": "required for consent.granted"}],
                )
            return "self"
        day = occurred_at.astimezone(self.zone).date()
        if data.subject_birth_date > day:
            raise InvalidInput(
                "subject_birth_date is after the day of the event.",
                errors=[{"field": "data.subject_birth_date", "message": "after the event"}],
            )
        rule = domain.age_rule(data.jurisdiction, domain.age_on(data.subject_birth_date, day))
        if event_type == "consent.granted" and rule.requirement == "representative" and data.actor.role == "self":
            raise InvalidInput(
                f"This person was {domain.age_on(data.subject_birth_date, day)} on {day.isoformat()}: "
                f"{rule.explanation}. Send the grant with actor.role 'legal_representative', the "
                f"representative's name and relationship.",
                errors=[{"field": "data.actor.role", "message": "a legal representative must grant consent"}],
            )
        return rule.requirement

    async def _project(self, conn: asyncpg.Connection, row: dict[str, Any], data: ConsentEventData) -> None:
        """Update the current state of (subject, purpose) from a new ledger row."""
        state = self._state_after(row, await store.state(conn, row["subject_id"], row["purpose"]))
        if state is not None:
            await store.save_state(conn, state)

    @staticmethod
    def _state_after(row: dict[str, Any], current: Any) -> dict[str, Any] | None:
        """The state of (subject, purpose) after a new ledger row; None if it stays as it is."""
        # Clinic systems may deliver late: an older decision never overrides a newer one.
        if current is not None and current["decided_at"] > row["occurred_at"]:
            return None
        granted = row["decision"] == "granted"
        by_self = row["actor_role"] == "self"
        keep = current is not None and current["decision"] == "granted" and granted
        return {
            "subject_id": row["subject_id"],
            "purpose": row["purpose"],
            "decision": row["decision"],
            "requirement": row["requirement"],
            "self_granted": granted and (by_self or (keep and current["self_granted"])),
            "representative_granted": granted and (not by_self or (keep and current["representative_granted"])),
            "record_id": row["record_id"],
            "decided_at": row["occurred_at"],
        }

    # --- reading ------------------------------------------------------------------------------

    async def permission(self, conn: asyncpg.Connection | ReadLane, subject_id: str, purpose_id: str,
                         *, send_at: datetime | None = None) -> PermissionOut:
        """May the data be used now? With ``send_at``, for a message sent then: at night a
        marketing send also needs the separate night-time consent. Each read is one statement of
        its own, so ``conn`` may be a :class:`~shared.db.ReadLane`."""
        purpose = self.purpose(purpose_id)
        row = await store.permission_inputs(conn, subject_id, purpose_id)
        state = dict(row) if row["decision"] is not None else None
        now = self.clock()
        verdict = domain.evaluate_permission(purpose, state, row["on_hold"], now, erased=row["erased"])
        if (verdict.allowed and purpose.night_purpose and send_at is not None
                and domain.at_night(send_at, self.zone)):
            night = await store.permission_inputs(conn, subject_id, purpose.night_purpose)
            night_state = dict(night) if night["decision"] is not None else None
            night_verdict = domain.evaluate_permission(self.purpose(purpose.night_purpose), night_state,
                                                       night["on_hold"], now, erased=night["erased"])
            if not night_verdict.allowed:
                verdict = domain.Permission(
                    False, "night_time",
                    f"a send between 21:00 and 08:00 also needs consent to {purpose.night_purpose} "
                    f"({night_verdict.reason}); Network Act Art. 50(3)",
                )
        return PermissionOut(
            subject_id=subject_id,
            purpose=purpose_id,
            allowed=verdict.allowed,
            reason=verdict.reason,
            explanation=verdict.explanation,
            record_id=str(state["record_id"]) if state else None,
            decided_at=state["decided_at"] if state else None,
            expires_at=verdict.expires_at,
        )

    async def current(self, conn: asyncpg.Connection, subject_id: str) -> SubjectConsents:
        """The decision in force per purpose, with the record that made it, and active holds."""
        states = await store.states(conn, subject_id)
        holds = await store.active_holds(conn, subject_id)
        erased_at = await store.erased_at(conn, subject_id)
        rows = await store.records_by_id(conn, [s["record_id"] for s in states])
        records = {r.record_id: r for r in await self.render_records(conn, subject_id, rows)}
        now = self.clock()
        purposes = []
        for state in states:
            purpose = self.purposes.get(state["purpose"])
            verdict = (
                domain.evaluate_permission(purpose, dict(state), bool(holds), now, erased=erased_at is not None)
                if purpose is not None
                else domain.Permission(False, "never_asked", "the purpose is no longer in the catalogue")
            )
            purposes.append(
                PurposeState(
                    purpose=state["purpose"],
                    decision=state["decision"],
                    allowed=verdict.allowed,
                    reason=verdict.reason,
                    decided_at=state["decided_at"],
                    expires_at=verdict.expires_at,
                    record=records[str(state["record_id"])],
                )
            )
        return SubjectConsents(
            subject_id=subject_id, purposes=purposes, holds=[HoldOut(**dict(h)) for h in holds], erased_at=erased_at
        )

    async def render_records(self, conn: asyncpg.Connection | None, subject_id: str, rows: list[Any],
                             *, cipher: Any = None) -> list[ConsentRecordOut]:
        """Ledger rows as the API shows them, personal fields opened with the subject's key (read
        on ``conn`` unless ``cipher`` is given; none once the subject was erased)."""
        if cipher is None and conn is not None:
            cipher = await self.keys.cipher(conn, subject_id, create=False)
        out = []
        for row in rows:
            personal = cipher.open(row["personal"], context=str(row["record_id"])) if cipher else None
            personal = personal or {}
            actor = personal.get("actor") or {"role": row["actor_role"]}
            out.append(
                ConsentRecordOut(
                    **{name: row[name] for name in _RECORD_OUT_COLUMNS},
                    record_id=str(row["record_id"]),
                    actor=ActorOut(**actor),
                    subject_birth_date=personal.get("subject_birth_date"),
                    evidence=personal.get("evidence"),
                )
            )
        return out

    async def verify_chain(self, conn: asyncpg.Connection, subject_id: str) -> ChainVerification:
        rows = await store.history(conn, subject_id)
        head = await store.subject_head(conn, subject_id)
        if not rows and head is None:
            raise NotFound(f"No consent has been recorded for subject '{subject_id}'.")
        problems: list[ChainProblem] = []
        prev = domain.GENESIS_HASH
        for expected_seq, row in enumerate(rows, start=1):
            record = dict(row)
            rid = str(record["record_id"])
            if record["sequence"] != expected_seq:
                problems.append(ChainProblem(sequence=record["sequence"], record_id=rid, problem=f"sequence {expected_seq} is missing"))
            if record["prev_hash"] != prev:
                problems.append(ChainProblem(sequence=record["sequence"], record_id=rid, problem="prev_hash does not match the previous record"))
            if record["personal"] is not None and sha256(record["personal"]) != record["personal_digest"]:
                problems.append(ChainProblem(sequence=record["sequence"], record_id=rid, problem="the sealed personal data was changed"))
            if domain.chain_hash(record["prev_hash"], domain.chained_view(record)) != record["record_hash"]:
                problems.append(ChainProblem(sequence=record["sequence"], record_id=rid, problem="the record was changed after it was written"))
            prev = record["record_hash"]
        if head is not None and (head["last_sequence"] != len(rows) or head["last_hash"] != prev):
            problems.append(ChainProblem(sequence=head["last_sequence"], record_id="", problem="records are missing from the end of the chain"))
        return ChainVerification(
            subject_id=subject_id,
            valid=not problems,
            records=len(rows),
            head_hash=prev if rows else None,
            problems=problems,
        )

    async def receipt(self, conn: asyncpg.Connection, record_id: str) -> dict[str, Any]:
        """A consent receipt with the fields of ISO/IEC TS 27560:2023 (and Kantara CR v1.1 names)."""
        try:
            uuid.UUID(record_id)
        except ValueError:
            raise NotFound(f"There is no consent record '{record_id}'.") from None
        row = await store.record(conn, record_id)
        if row is None:
            raise NotFound(f"There is no consent record '{record_id}'.")
        [record] = await self.render_records(conn, row["subject_id"], [row])
        policy = await self._policy(conn, row["policy_id"], row["policy_version"])
        purpose = self.purposes.get(row["purpose"])
        retention = RETENTION_CLASSES[purpose.retention_class] if purpose else None
        language = row["language"]
        return {
            "schema": "ISO/IEC TS 27560:2023 consent record (Kantara Consent Receipt v1.1 compatible)",
            "record_id": record.record_id,
            "record_hash": record.record_hash,
            "principal": {"id": record.subject_id, "birth_date": record.subject_birth_date},
            "controller": {
                "name": self.settings.controller_name,
                "contact": self.settings.controller_contact,
                "privacy_manager": self.settings.privacy_manager_name,
            },
            "notice": {
                "policy_id": record.policy_id,
                "version": record.policy_version,
                "language": language,
                "content_hash": record.notice_hash,
                "effective_at": policy["effective_at"] if policy else None,
            },
            "purpose": {
                "id": record.purpose,
                "name": purpose.names.get(language) if purpose else None,
                "description": purpose.descriptions.get(language) if purpose else None,
                "dpv_purpose": purpose.dpv_purpose if purpose else None,
                "legal_basis": purpose.legal_basis if purpose else None,
                "required": purpose.required if purpose else None,
            },
            "data_categories": purpose.data_categories if purpose else [],
            "recipients": purpose.recipients if purpose else [],
            "retention": {
                "class": purpose.retention_class if purpose else None,
                # Calendar years/months (shared/retention.py), counted here from the record's day.
                "period_days": (
                    (retention.ends_on(record.occurred_at.astimezone(self.zone).date())
                     - record.occurred_at.astimezone(self.zone).date()).days
                    if retention and retention.fixed else None
                ),
                "until": retention.until if retention else None,
                "legal_ground": retention.citation if retention else None,
            },
            "jurisdiction": record.jurisdiction,
            "collection_method": record.method,
            "actor": record.actor.model_dump(),
            "withdrawal_method": (
                "Withdraw at any time, as easily as consent was given: through the channel used to give it "
                "(web, paper, phone, email or kiosk), or by asking the privacy manager; it takes effect at once."
            ),
            "event": {
                "type": f"consent.{record.decision}",
                "state": record.decision,
                "time": record.occurred_at,
                "recorded_at": record.recorded_at,
                "event_id": record.event_id,
                "source": record.source,
            },
        }

    # --- holds --------------------------------------------------------------------------------

    async def place_hold(self, conn: asyncpg.Connection, event: SubjectHoldPlaced) -> None:
        await store.place_hold(conn, hold_id=event.hold_id, subject_id=event.subject_id,
                               request_id=event.request_id, reason=event.reason, placed_at=event.placed_at)

    async def release_hold(self, conn: asyncpg.Connection, event: SubjectHoldReleased) -> None:
        await store.release_hold(conn, hold_id=event.hold_id, subject_id=event.subject_id,
                                 request_id=event.request_id, released_at=event.released_at)

    # --- commands from the request service (dsr.events) ---------------------------------------

    def check_dsr_command(
        self, envelope: CloudEvent, event: SubjectErasureApproved | SubjectConsentWithdrawalRequested
    ) -> None:
        """Refuse a command that could not be carried out, before anything is written for it."""
        if envelope.subject is not None and envelope.subject != event.subject_id:
            raise InvalidInput(
                f"The CloudEvent subject '{envelope.subject}' is not data.subject_id '{event.subject_id}'.",
                errors=[{"field": "subject", "message": "must equal data.subject_id"}],
            )
        when = event.approved_at if isinstance(event, SubjectErasureApproved) else event.requested_at
        field = "approved_at" if isinstance(event, SubjectErasureApproved) else "requested_at"
        if when.tzinfo is None:
            raise InvalidInput(
                f"data.{field} has no time zone offset.", errors=[{"field": f"data.{field}", "message": "no offset"}]
            )
        if isinstance(event, SubjectConsentWithdrawalRequested):
            if when > self.clock() + self.settings.max_clock_skew:
                raise InvalidInput(
                    "data.requested_at is in the future; a withdrawal can only be recorded once asked for.",
                    errors=[{"field": "data.requested_at", "message": "in the future"}],
                )
            if len(envelope.id) > 256 - 65:  # each withdrawal's id is "<command id>:<purpose>"
                raise InvalidInput(
                    "The command's id is too long to derive the withdrawals' event ids from it.",
                    errors=[{"field": "id", "message": "at most 191 characters"}],
                )

    async def erase(self, conn: asyncpg.Connection, event: SubjectErasureApproved) -> bool:
        """An approved erasure: destroy the subject's key and keep the de-identified ledger.

        Every sealed personal field of their ledger becomes unreadable for good; the purposes,
        times and hashes remain as evidence that consent existed (the chain still verifies). An
        ``erasures`` row records the request; from then on a new grant is refused (the key is
        destroyed) and every consent-based permission answers ``erased``. Returns whether a live
        key existed. Idempotent: a second request for the same subject records its own row.
        """
        # Serialise with this subject's recordings: one holding the chain head commits first. (One
        # that read the key just before and appends after us seals with a key that no longer
        # exists anywhere: its personal data is unreadable too, and permissions answer "erased".)
        await store.lock_existing_subject(conn, event.subject_id)
        had_key = await self.keys.destroy(conn, event.subject_id)
        await self.transit_keys.destroy(conn, event.subject_id)  # and every sealed field on Kafka with it
        destroyed_at = await store.key_destroyed_at(conn, event.subject_id)
        await store.insert_erasure(
            conn, subject_id=event.subject_id, request_id=event.request_id, approved_at=event.approved_at,
            destroyed_at=destroyed_at, had_key=had_key,
        )
        log.info("erasure %s: key of subject %s destroyed (had a key: %s)", event.request_id, event.subject_id, had_key)
        return had_key

    async def withdraw_on_request(
        self, conn: asyncpg.Connection, event: SubjectConsentWithdrawalRequested, *, command_id: str
    ) -> list[dict[str, Any]]:
        """Record a ``consent.withdrawn`` for each purpose of the request whose consent is in force.

        Each withdrawal goes through :meth:`record`, exactly like one from a clinic system (same
        ledger, chain, projection and outgoing event), with the id ``<command id>:<purpose>`` (a
        redelivered command records nothing new), the policy of the grant it withdraws, the
        command's method and actor role, ``{"request_id": …}`` as evidence, and the time the
        person asked. A purpose not granted has nothing to withdraw; an unknown purpose is
        skipped (logged) so the rest of the person's wish is still recorded. Returns the new rows.
        """
        subject_id = event.subject_id
        if not await store.lock_existing_subject(conn, subject_id):
            log.info("withdrawal request %s: nothing recorded for subject %s", event.request_id, subject_id)
            return []
        try:
            await self.keys.key(conn, subject_id, create=False)
        except KeyDestroyed:
            # Nothing can be sealed for them any more, and every consent-based permission already
            # answers "erased": there is nothing left to withdraw.
            log.info("withdrawal request %s: subject %s was erased; nothing to withdraw", event.request_id, subject_id)
            return []
        states = {s["purpose"]: s for s in await store.states(conn, subject_id)}
        if event.purposes is None:
            wanted = [p for p, s in states.items() if s["decision"] == "granted"]
        else:
            wanted = list(dict.fromkeys(event.purposes))
        targets = []
        for purpose in wanted:
            state = states.get(purpose)
            if purpose not in self.purposes:
                log.warning("withdrawal request %s: unknown purpose '%s' skipped", event.request_id, purpose)
            elif state is None or state["decision"] != "granted":
                log.info("withdrawal request %s: '%s' is not granted; nothing to withdraw", event.request_id, purpose)
            elif state["decided_at"] > event.requested_at:
                log.info("withdrawal request %s: '%s' was granted again after the request; the newer decision stands",
                         event.request_id, purpose)
            else:
                targets.append(state)
        grants = {str(r["record_id"]): r for r in await store.records_by_id(conn, [s["record_id"] for s in targets])}
        actor = {"role": event.actor_role}
        if event.actor_role == "legal_representative":
            actor |= REQUEST_REPRESENTATIVE
        recorded = []
        for state in targets:
            grant = grants[str(state["record_id"])]
            envelope = CloudEvent(
                id=f"{command_id}:{state['purpose']}",
                source=DSR_SOURCE,
                type="consent.withdrawn",
                subject=subject_id,
                time=event.requested_at,
                datacontenttype="application/json",
                data={
                    "subject_id": subject_id,
                    "purpose": state["purpose"],
                    "policy_id": grant["policy_id"],
                    "policy_version": grant["policy_version"],
                    "language": grant["language"],
                    "method": event.method,
                    "actor": actor,
                    "evidence": {"request_id": event.request_id},
                    "jurisdiction": grant["jurisdiction"],
                },
            )
            row, created = await self.record(conn, envelope, via="kafka")
            if created:
                recorded.append(row)
        log.info("withdrawal request %s: %d withdrawals recorded for subject %s",
                 event.request_id, len(recorded), subject_id)
        return recorded


@dataclass
class Recorded:
    """A consent event's ledger row, and whether this call wrote it (False: an exact replay)."""

    row: Any
    created: bool
    #: The subject's cipher when it is at hand (the row was just written), to open ``personal``.
    cipher: Any = None


def _reason(problem: Problem) -> str:
    """A refusal as the consumer's dead letter states it (the same text as one message at a time)."""
    return f"{problem.status} {problem.title}: {problem.detail}"
