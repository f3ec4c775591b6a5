"""The breach register's rules: a suspected leak recorded, what is known corrected, the people
told and the regulator reported, the breach closed, and its 72-hour clock.

Every change is made on the caller's connection in the caller's transaction, on the breach it
loaded locked; it writes its audit row (who, when, what) and its event on ``dsr.events`` (through
the outbox) in that transaction. What may name a person (the subject ids, everything staff wrote)
is sealed under the breach's own key, as a request's personal data is; the events carry codes,
counts and times only.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg

from services.dsr.breaches import drafts, errors, store
from services.dsr.breaches.model import Breach, assess, check_count, check_moment, new_reference
from services.dsr.breaches.schemas import (
    MAX_PEOPLE,
    AuditEntry,
    BreachOut,
    BreachSummary,
    Clock,
    CloseBreach,
    NoticeDraft,
    PeopleToldOut,
    RecordBreach,
    RecordPeopleNotified,
    RecordRegulatorReport,
    RegulatorDecision,
    RegulatorReportOut,
    ReportDraft,
    UpdateBreach,
)
from services.dsr.context import SOURCE, Context
from shared import outbox
from shared.events import (
    BreachClosed,
    BreachDeadlineApproaching,
    BreachEvent,
    BreachOverdue,
    BreachPeopleNotified,
    BreachRecorded,
    BreachRegulatorReported,
    BreachUpdated,
)
from shared.i18n import Said
from shared.rules import breaches as rules

#: The facts an update may change that are codes or times (shown in the audit trail as they change);
#: the sealed ones are named there, never shown.
_CLEAR = ("occurred_at", "discovered_at", "subject_count", "data_categories", "sensitive", "unique_identifiers",
          "cause", "measures")
_SEALED = ("description", "subject_ids", "cause_detail", "measures_detail")


def _shown(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list):
        return ",".join(value) or "-"
    return "?" if value is None else str(value)


def _regulator(reasons: list[str]) -> Said:
    """Whether the regulator must be told, and why, in the audit trail's words."""
    if not reasons:
        return Said("breach.audit.regulator_not_required")
    return Said("breach.audit.regulator_required", {"reasons": ("notifier.breach_reason", list(reasons))})


class Breaches:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    @property
    def contacts(self) -> drafts.Contacts:
        s = self.ctx.settings
        return drafts.Contacts(s.controller_name, s.privacy_manager_name, s.privacy_manager_contact, s.help_desk)

    # --- reading ---------------------------------------------------------------------------------

    async def load(self, conn: asyncpg.Connection, breach_id: str, *, lock: bool = False) -> Breach:
        try:
            bid = uuid.UUID(breach_id)
        except ValueError:
            raise errors.UnknownBreach(f"There is no breach '{breach_id}'.") from None
        breach = await store.breach(conn, bid, lock=lock)
        if breach is None:
            raise errors.UnknownBreach(f"There is no breach '{breach_id}'.")
        return breach

    async def sealed(self, conn: asyncpg.Connection, breach: Breach) -> dict[str, Any]:
        """What the breach keeps sealed: subject ids, and what staff wrote."""
        cipher = await self.ctx.keys.cipher(conn, breach.key_ref, create=False)
        opened = cipher.open(breach.personal, context=str(breach.breach_id)) if cipher is not None else None
        return opened or {}

    async def view(self, conn: asyncpg.Connection, breach: Breach) -> BreachOut:
        now = self.ctx.clock()
        sealed = await self.sealed(conn, breach)
        shown = await store.disclosures(conn, breach.breach_id)
        return BreachOut(
            breach_id=str(breach.breach_id), reference=breach.reference, status=breach.status,
            description=sealed.get("description", ""), occurred_at=breach.occurred_at,
            discovered_at=breach.discovered_at, notify_by=breach.notify_by,
            subject_ids=sealed.get("subject_ids", []), subject_count=breach.subject_count,
            data_categories=breach.data_categories, sensitive=breach.sensitive,
            unique_identifiers=breach.unique_identifiers, cause=breach.cause,
            external_access=breach.external_access, cause_detail=sealed.get("cause_detail"),
            measures=breach.measures, measures_detail=sealed.get("measures_detail"),
            regulator=RegulatorDecision(required=breach.regulator_required,
                                        reasons=breach.regulator_reasons,
                                        explanation=drafts.regulator_decision("en", breach)),
            people_told=breach.people_told,
            people_notifications=[PeopleToldOut(notified_at=d["at"], count=d["people"], channels=list(d["channels"]),
                                                recorded_by=d["recorded_by"], recorded_at=d["recorded_at"])
                                  for d in shown if d["kind"] == "people"],
            regulator_reports=[RegulatorReportOut(reported_at=d["at"], regulator=d["regulator"],
                                                  reference=d["regulator_reference"], recorded_by=d["recorded_by"],
                                                  recorded_at=d["recorded_at"])
                               for d in shown if d["kind"] == "regulator"],
            clock=self.clock(breach, now, await store.notices(conn, breach.breach_id)),
            recorded_by=breach.recorded_by, recorded_at=breach.recorded_at, updated_at=breach.updated_at,
            outcome=breach.outcome, closed_by=breach.closed_by, closed_at=breach.closed_at,
            close_reason=sealed.get("close_reason"),
            audit=[AuditEntry(**dict(r)) for r in await store.audit(conn, breach.breach_id)],
        )

    @staticmethod
    def clock(breach: Breach, now: datetime, notices: list[str]) -> Clock:
        return Clock(notify_by=breach.notify_by, seconds_left=int((breach.notify_by - now).total_seconds()),
                     overdue=breach.overdue(now), outstanding=breach.outstanding(), notices=notices)

    async def listing(self, conn: asyncpg.Connection, *, status: str | None, limit: int,
                      offset: int) -> list[BreachSummary]:
        now = self.ctx.clock()
        return [BreachSummary(breach_id=str(b.breach_id), reference=b.reference, status=b.status,
                              discovered_at=b.discovered_at, notify_by=b.notify_by, subject_count=b.subject_count,
                              data_categories=b.data_categories, regulator_required=b.regulator_required,
                              people_told=b.people_told, outstanding=b.outstanding(),
                              overdue=b.overdue(now))
                for b in await store.list_breaches(conn, status=status, limit=limit, offset=offset)]

    async def notice(self, conn: asyncpg.Connection, breach: Breach, lang: str) -> NoticeDraft:
        return drafts.notice(breach, lang, self.contacts, self.ctx.zone)

    async def report(self, conn: asyncpg.Connection, breach: Breach, lang: str) -> ReportDraft:
        shown = [dict(d) for d in await store.disclosures(conn, breach.breach_id)]
        return drafts.report(breach, await self.sealed(conn, breach), shown, lang, self.contacts, self.ctx.zone)

    # --- changes ---------------------------------------------------------------------------------

    async def record(self, conn: asyncpg.Connection, body: RecordBreach, *, by: str) -> Breach:
        """Record a suspected leak: its clock starts at ``discovered_at``."""
        now = self.ctx.clock()
        self._check_times(body.occurred_at, body.discovered_at, now)
        count = body.subject_count if body.subject_count is not None else (len(body.subject_ids) or None)
        check_count(count, listed=len(body.subject_ids), told=0)
        found = assess(categories=body.data_categories, sensitive=body.sensitive,
                       unique_identifiers=body.unique_identifiers, cause=body.cause, subject_count=count)
        breach_id = uuid.uuid4()
        key_ref = f"breach:{breach_id}"
        cipher = await self.ctx.keys.new_cipher(conn, key_ref)
        sealed = {"subject_ids": body.subject_ids, "description": body.description, "cause_detail": body.cause_detail,
                  "measures_detail": body.measures_detail, "close_reason": None}
        row = {
            "breach_id": breach_id, "status": "open", "key_ref": key_ref,
            "personal": cipher.seal(sealed, context=str(breach_id)),
            "occurred_at": body.occurred_at, "discovered_at": body.discovered_at,
            "notify_by": rules.notify_by(body.discovered_at), "subject_count": count,
            "data_categories": body.data_categories, "sensitive": found.sensitive,
            "unique_identifiers": found.unique_identifiers, "cause": body.cause, "measures": body.measures,
            "regulator_required": found.regulator_required, "regulator_reasons": found.reasons,
            "recorded_by": by, "recorded_at": now, "updated_at": now,
        }
        breach = None
        while breach is None:  # a reference already taken writes nothing: draw another
            breach = await store.insert_breach(conn, {**row, "reference": new_reference(now)})
        await store.add_audit(conn, breach_id, at=now, actor=by, action="recorded", detail=Said(
            "breach.audit.recorded_detail",
            {"data": ("category", list(body.data_categories)), "cause": ("breach.cause", body.cause)},
            {"discovered": _shown(body.discovered_at), "people": _shown(count), "listed": len(body.subject_ids),
             "regulator": _regulator(found.reasons)}))
        await self._publish(conn, BreachRecorded, breach, now)
        return breach

    async def update(self, conn: asyncpg.Connection, breach: Breach, body: UpdateBreach, *, by: str) -> Breach:
        """Correct or complete what is known; whether the regulator must be told is decided again."""
        breach.check_open()
        now = self.ctx.clock()
        sealed = await self.sealed(conn, breach)
        sent = body.model_fields_set
        current: dict[str, Any] = {name: getattr(breach, name) for name in _CLEAR}
        current.update({name: sealed.get(name) for name in _SEALED})
        current["subject_ids"] = current["subject_ids"] or []
        new = {**current, **{name: getattr(body, name) for name in sent}}
        self._check_times(new["occurred_at"], new["discovered_at"], now,
                          checked={"occurred_at", "discovered_at"} & sent)
        listed = len(new["subject_ids"])
        if "subject_count" in sent:
            new["subject_count"] = body.subject_count if body.subject_count is not None else (listed or None)
        elif listed and (current["subject_count"] or 0) < listed:
            new["subject_count"] = listed  # more ids than counted: at least that many
        check_count(new["subject_count"], listed=listed, told=breach.people_told)
        # A flag not sent keeps what was recorded: sensitive data once said stays said.
        found = assess(categories=new["data_categories"], sensitive=new["sensitive"],
                       unique_identifiers=new["unique_identifiers"], cause=new["cause"],
                       subject_count=new["subject_count"])
        new["sensitive"], new["unique_identifiers"] = found.sensitive, found.unique_identifiers
        changed = [name for name in (*_CLEAR, *_SEALED) if new[name] != current[name]]
        if not changed:
            return breach  # the same facts again: nothing to record
        sealed.update({name: new[name] for name in _SEALED})
        cipher = await self.ctx.keys.cipher(conn, breach.key_ref, create=False)
        assert cipher is not None, "a breach's key is never destroyed"
        breach = await store.update_breach(
            conn, breach.breach_id, personal=cipher.seal(sealed, context=str(breach.breach_id)),
            **{name: new[name] for name in _CLEAR}, notify_by=rules.notify_by(new["discovered_at"]),
            regulator_required=found.regulator_required, regulator_reasons=found.reasons, updated_at=now)
        changes = [Said("breach.audit.change", {"field": ("breach.f", name)},
                        {"before": _shown(current[name]), "after": _shown(new[name])}) if name in _CLEAR
                   else Said("breach.audit.changed", {"field": ("breach.f", name)}) for name in changed]
        await store.add_audit(conn, breach.breach_id, at=now, actor=by, action="updated", detail=Said(
            "breach.audit.updated_detail", values={"changes": changes, "regulator": _regulator(found.reasons)}))
        await self._publish(conn, BreachUpdated, breach, now, changed=changed)
        return breach

    async def people_notified(self, conn: asyncpg.Connection, breach: Breach, body: RecordPeopleNotified, *,
                              by: str) -> Breach:
        """Record that people affected were told (a mailing); they are all told once as many were
        told as are affected."""
        breach.check_open()
        now = self.ctx.clock()
        check_moment("notified_at", body.notified_at, now, not_before=breach.discovered_at,
                     not_before_name="discovered_at")
        told = breach.people_told + body.count
        if breach.subject_count is None and told > MAX_PEOPLE:
            raise errors.CountTooLow(f"More than {MAX_PEOPLE} people would have been told.", field="count",
                                     reason="too many")
        if breach.subject_count is not None and told > breach.subject_count:
            raise errors.CountTooLow(
                f"{told} people would have been told, more than the {breach.subject_count} affected: correct the "
                f"number of people affected first.", field="count", reason="more than the people affected")
        await store.add_disclosure(conn, breach.breach_id, kind="people", at=body.notified_at, people=body.count,
                                   channels=body.channels, recorded_by=by, recorded_at=now)
        last = max(filter(None, [breach.people_told_at, body.notified_at]))
        breach = await store.update_breach(conn, breach.breach_id, people_told=told, people_told_at=last,
                                           updated_at=now)
        await store.add_audit(conn, breach.breach_id, at=now, actor=by, action="people_notified",
                              detail=Said("breach.audit.people_detail", {"channels": ("breach.channel", list(body.channels))},
                                          {"n": body.count, "at": _shown(body.notified_at), "told": told}))
        await self._publish(conn, BreachPeopleNotified, breach, now, notified_at=body.notified_at, count=body.count,
                            channels=body.channels)
        return breach

    async def regulator_reported(self, conn: asyncpg.Connection, breach: Breach, body: RecordRegulatorReport, *,
                                 by: str) -> Breach:
        """Record the report to the regulator (a follow-up report too)."""
        breach.check_open()
        now = self.ctx.clock()
        check_moment("reported_at", body.reported_at, now, not_before=breach.discovered_at,
                     not_before_name="discovered_at")
        await store.add_disclosure(conn, breach.breach_id, kind="regulator", at=body.reported_at,
                                   regulator=body.regulator, regulator_reference=body.reference, recorded_by=by,
                                   recorded_at=now)
        first = min(filter(None, [breach.regulator_reported_at, body.reported_at]))
        breach = await store.update_breach(conn, breach.breach_id, regulator_reported_at=first, updated_at=now)
        await store.add_audit(conn, breach.breach_id, at=now, actor=by, action="regulator_reported",
                              detail=Said("breach.audit.regulator_detail",
                                          {"regulator": ("notifier.regulator", body.regulator)},
                                          {"at": _shown(body.reported_at), "reference": body.reference or "—"}))
        await self._publish(conn, BreachRegulatorReported, breach, now, reported_at=body.reported_at,
                            regulator=body.regulator)
        return breach

    async def close(self, conn: asyncpg.Connection, breach: Breach, body: CloseBreach, *, by: str) -> Breach:
        """Close the breach: handled (everyone who must be told was), or not a leak after all."""
        breach.check_closable(body.outcome)
        now = self.ctx.clock()
        sealed = {**await self.sealed(conn, breach), "close_reason": body.reason}
        cipher = await self.ctx.keys.cipher(conn, breach.key_ref, create=False)
        assert cipher is not None, "a breach's key is never destroyed"
        breach = await store.update_breach(conn, breach.breach_id, status="closed", outcome=body.outcome,
                                           closed_by=by, closed_at=now, updated_at=now,
                                           personal=cipher.seal(sealed, context=str(breach.breach_id)))
        await store.add_audit(conn, breach.breach_id, at=now, actor=by, action="closed",
                              detail=Said("breach.audit.closed_detail", {"outcome": ("notifier.outcome", body.outcome)}))
        await self._publish(conn, BreachClosed, breach, now, outcome=body.outcome)
        return breach

    # --- the clock -------------------------------------------------------------------------------

    async def notify_clock(self, conn: asyncpg.Connection, breach: Breach) -> None:
        """Remind the privacy manager at 24 and 48 hours, and tell them when the 72 hours are up,
        while someone is still to be told; each once (its row is written with its event)."""
        now = self.ctx.clock()
        hours = breach.notice_due(now)
        if hours is None or not await store.add_notice(conn, breach.breach_id, f"{hours}h", now):
            return
        await store.add_audit(conn, breach.breach_id, at=now, actor="system", action=f"reminder_{hours}h",
                              detail=Said("breach.audit.reminder_detail",
                                          {"outstanding": ("notifier.breach_outstanding", breach.outstanding())},
                                          {"hours": hours}))
        if hours == max(rules.CLOCK_NOTICES):
            await self._publish(conn, BreachOverdue, breach, now)
        else:
            await self._publish(conn, BreachDeadlineApproaching, breach, now, hours_elapsed=hours)

    async def due_for_notices(self, conn: asyncpg.Connection) -> list[Breach]:
        return await store.breaches_for_notices(conn, self.ctx.clock(), rules.first_notice_after())

    # --- helpers ---------------------------------------------------------------------------------

    @staticmethod
    def _check_times(occurred_at: datetime | None, discovered_at: datetime, now: datetime, *,
                     checked: set[str] | None = None) -> None:
        if checked is None or "discovered_at" in checked:
            check_moment("discovered_at", discovered_at, now)
        if occurred_at is not None and (checked is None or checked & {"occurred_at", "discovered_at"}):
            check_moment("occurred_at", occurred_at, now)
            if occurred_at > discovered_at:
                raise errors.BadMoment("occurred_at is after discovered_at: a leak is found after it happens.",
                                       field="occurred_at", reason="after discovered_at")

    async def _publish(self, conn: asyncpg.Connection, event: type[BreachEvent], breach: Breach, at: datetime,
                       **extra: Any) -> None:
        """An event about the breach: its codes, counts and times, never a person."""
        await outbox.enqueue(conn, event(
            breach_id=str(breach.breach_id), reference=breach.reference, status=breach.status,
            occurred_at=breach.occurred_at, discovered_at=breach.discovered_at, notify_by=breach.notify_by,
            subject_count=breach.subject_count, data_categories=breach.data_categories, sensitive=breach.sensitive,
            unique_identifiers=breach.unique_identifiers, external_access=breach.external_access,
            regulator_required=breach.regulator_required, regulator_reasons=breach.regulator_reasons,
            people_told=breach.people_told, outstanding=breach.outstanding(), at=at, **extra,
        ), source=SOURCE, time=at)
