"""Reading consent: "may this data be used for this purpose?", and a subject's decisions in force."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

import asyncpg

from services.consent import domain, store
from services.consent.ledger import Ledger
from services.consent.policies import Policies
from services.consent.schemas import HoldOut, PermissionOut, PurposeState, SubjectConsents
from shared.db import ReadLane


class Permissions:
    def __init__(self, policies: Policies, ledger: Ledger, zone: ZoneInfo, clock: Callable[[], datetime]) -> None:
        self.policies = policies
        self.ledger = ledger
        self.zone = zone
        self.clock = clock

    async def permission(self, conn: asyncpg.Connection | ReadLane, subject_id: str, purpose_id: str,
                         *, send_at: datetime | None = None) -> PermissionOut:
        """May the data be used now? With ``send_at``, for a message sent then: at night a
        marketing send also needs the separate night-time consent. Each read is one statement of
        its own, so ``conn`` may be a :class:`~shared.db.ReadLane`."""
        purpose = self.policies.purpose(purpose_id)
        row = await store.permission_inputs(conn, subject_id, purpose_id)
        state = dict(row) if row["decision"] is not None else None
        now = self.clock()
        verdict = domain.evaluate_permission(purpose, state, row["on_hold"], now, erased=row["erased"])
        if (verdict.allowed and purpose.night_purpose and send_at is not None
                and domain.at_night(send_at, self.zone)):
            night = await store.permission_inputs(conn, subject_id, purpose.night_purpose)
            night_state = dict(night) if night["decision"] is not None else None
            night_verdict = domain.evaluate_permission(self.policies.purpose(purpose.night_purpose), night_state,
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

    async def current(self, conn: asyncpg.Connection, subject_id: str, *, personal: bool = True) -> SubjectConsents:
        """The decision in force per purpose, with the record that made it (its personal fields
        only when ``personal``), and active holds."""
        states = await store.states(conn, subject_id)
        holds = await store.active_holds(conn, subject_id)
        erased_at = await store.erased_at(conn, subject_id)
        rows = await store.records_by_id(conn, [s["record_id"] for s in states])
        records = {r.record_id: r for r in await self.ledger.render_records(conn, subject_id, rows, with_personal=personal)}
        now = self.clock()
        purposes = []
        for state in states:
            purpose = self.policies.purposes.get(state["purpose"])
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
