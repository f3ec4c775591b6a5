"""Commands of the request service (``dsr.events``): processing holds, approved erasures, and
withdrawals of consent asked through a request."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

import asyncpg

from services.consent import store
from services.consent.errors import CommandIdTooLong, NoTimeZoneOffset, RequestInFuture, SubjectMismatch
from services.consent.recording import Recording
from services.consent.settings import ConsentSettings
from shared.cloudevents import CloudEvent
from shared.crypto import KeyDestroyed
from shared.events import (
    SubjectConsentWithdrawalRequested,
    SubjectErasureApproved,
    SubjectHoldPlaced,
    SubjectHoldReleased,
)
from shared.problems import Problem

log = logging.getLogger(__name__)

#: The source of the withdrawals recorded for a data-subject request (subject.consent_withdrawal.requested).
DSR_SOURCE = "dongui/dsr"
#: subject.consent_withdrawal.requested names no representative: the request service verified
#: who they are, and the request (its id is in the evidence) holds their identity.
REQUEST_REPRESENTATIVE = {"name": "verified by the request service", "relationship": "legal representative"}


class Commands:
    def __init__(self, settings: ConsentSettings, recording: Recording, clock: Callable[[], datetime]) -> None:
        self.settings = settings
        self.recording = recording
        self.keys = recording.keys
        self.transit = recording.transit
        self.purposes = recording.purposes
        self.clock = clock

    # --- holds --------------------------------------------------------------------------------

    async def place_hold(self, conn: asyncpg.Connection, event: SubjectHoldPlaced) -> None:
        await store.place_hold(conn, hold_id=event.hold_id, subject_id=event.subject_id,
                               request_id=event.request_id, reason=event.reason, placed_at=event.placed_at)

    async def release_hold(self, conn: asyncpg.Connection, event: SubjectHoldReleased) -> None:
        await store.release_hold(conn, hold_id=event.hold_id, subject_id=event.subject_id,
                                 request_id=event.request_id, released_at=event.released_at)

    # --- erasure and withdrawal ---------------------------------------------------------------

    def check(self, envelope: CloudEvent, event: SubjectErasureApproved | SubjectConsentWithdrawalRequested) -> None:
        """Refuse a command that could not be carried out, before anything is written for it."""
        if envelope.subject is not None and envelope.subject != event.subject_id:
            raise SubjectMismatch(
                f"The CloudEvent subject '{envelope.subject}' is not data.subject_id '{event.subject_id}'."
            )
        when = event.approved_at if isinstance(event, SubjectErasureApproved) else event.requested_at
        field = "approved_at" if isinstance(event, SubjectErasureApproved) else "requested_at"
        if when.tzinfo is None:
            raise NoTimeZoneOffset(f"data.{field} has no time zone offset.", field=f"data.{field}")
        if isinstance(event, SubjectConsentWithdrawalRequested):
            if when > self.clock() + self.settings.max_clock_skew:
                raise RequestInFuture(
                    "data.requested_at is in the future; a withdrawal can only be recorded once asked for."
                )
            if len(envelope.id) > 256 - 65:  # each withdrawal's id is "<command id>:<purpose>"
                raise CommandIdTooLong("The command's id is too long to derive the withdrawals' event ids from it.")

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
        await self.transit.destroy(conn, event.subject_id)  # and every sealed field on Kafka with it
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

        The withdrawals are recorded by :meth:`Recording.record_many`, exactly like those of a
        clinic system (same ledger, chain, projection and outgoing event), with the id
        ``<command id>:<purpose>`` (a redelivered command records nothing new), the policy of the
        grant it withdraws, the command's method and actor role, ``{"request_id": …}`` as
        evidence, and the time the person asked. A purpose not granted has nothing to withdraw; an
        unknown purpose is skipped (logged) so the rest of the person's wish is still recorded.
        Returns the new rows.
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
        actor: dict[str, str] = {"role": event.actor_role}
        if event.actor_role == "legal_representative":
            actor |= REQUEST_REPRESENTATIVE
        envelopes = []
        for state in targets:
            grant = grants[str(state["record_id"])]
            envelopes.append(CloudEvent(
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
            ))
        recorded = []
        for outcome in await self.recording.record_many(conn, envelopes, via="kafka"):
            if isinstance(outcome, Problem):
                # The claim of the command is written: this must fail the transaction, not refuse.
                raise outcome
            if outcome.created:
                recorded.append(outcome.row)
        log.info("withdrawal request %s: %d withdrawals recorded for subject %s",
                 event.request_id, len(recorded), subject_id)
        return recorded

