"""A breach as the store loads it, with the rules that read it: who is still to be told, which
reminder of the clock is due, and whether the regulator must be told (``shared/rules/breaches.py``).

Nothing here touches the database or the network.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from services.dsr import domain
from services.dsr.breaches import errors
from shared.rules import breaches as rules

#: The earliest moment the register accepts: anything before is a typo (and far-off years would
#: not survive a time-zone conversion).
EARLIEST = datetime.fromisoformat("1990-01-01T00:00:00+00:00")
#: How far ahead of the service's clock a "now" typed by a person may be (their clock is not ours).
CLOCK_SKEW = timedelta(minutes=5)


def new_reference(now: datetime) -> str:
    """A register reference, e.g. BR-2026-K7M2P (read out on the phone like a request's)."""
    return domain.new_reference(now, prefix="BR")


@dataclass(frozen=True)
class Assessment:
    """What the data and the cause of a leak mean for who must be told."""

    sensitive: bool
    unique_identifiers: bool
    external_access: bool
    reasons: list[str]

    @property
    def regulator_required(self) -> bool:
        return bool(self.reasons)


def assess(*, categories: list[str], sensitive: bool | None, unique_identifiers: bool | None, cause: str,
           subject_count: int | None) -> Assessment:
    """Sensitive and unique identifying data follow from the categories (a flag may add either,
    never take away what a category says); then the regulator's thresholds."""
    by_category = [rules.DATA_CATEGORIES[c] for c in categories]
    implied_sensitive = any(c.sensitive for c in by_category)
    implied_unique = any(c.unique_identifier for c in by_category)
    if sensitive is False and implied_sensitive:
        raise errors.ImpliedFlag("The data categories include sensitive information (health, photos or biometric "
                                 "data: PIPA Art. 23); 'sensitive' cannot be false.", field="sensitive",
                                 reason="a category is sensitive")
    if unique_identifiers is False and implied_unique:
        raise errors.ImpliedFlag("The data categories include a unique identifying number (PIPA Art. 24); "
                                 "'unique_identifiers' cannot be false.", field="unique_identifiers",
                                 reason="a category is a unique identifier")
    is_sensitive = bool(sensitive) or implied_sensitive
    is_unique = bool(unique_identifiers) or implied_unique
    external = cause == rules.EXTERNAL_ACCESS
    reasons = rules.regulator_reasons(people=subject_count, sensitive=is_sensitive, unique_identifiers=is_unique,
                                      external_access=external)
    return Assessment(is_sensitive, is_unique, external, reasons)


def check_moment(field: str, moment: datetime, now: datetime, *, not_before: datetime | None = None,
                 not_before_name: str = "") -> None:
    """A time a person wrote: not in the future, not absurdly early, not before ``not_before``."""
    if moment > now + CLOCK_SKEW:
        raise errors.BadMoment(f"{field} is in the future.", field=field, reason="in the future")
    if moment < EARLIEST:
        raise errors.BadMoment(f"{field} is before 1990: check the year.", field=field, reason="before 1990")
    if not_before is not None and moment < not_before:
        raise errors.BadMoment(f"{field} is before {not_before_name}.", field=field, reason=f"before {not_before_name}")


def check_count(subject_count: int | None, *, listed: int, told: int) -> None:
    """The number affected is at least the subjects listed and the people already told."""
    if subject_count is None:
        return
    if subject_count < listed:
        raise errors.CountTooLow(f"subject_count ({subject_count}) is less than the {listed} subject_ids listed.",
                                 field="subject_count", reason="fewer than the subject ids listed")
    if subject_count < told:
        raise errors.CountTooLow(f"subject_count ({subject_count}) is less than the {told} people already told.",
                                 field="subject_count", reason="fewer than the people already told")


@dataclass(frozen=True)
class Breach:
    """One suspected leak, as stored (what may name a person sealed in ``personal``)."""

    breach_id: uuid.UUID
    reference: str
    status: str
    key_ref: str
    personal: bytes
    occurred_at: datetime | None
    discovered_at: datetime
    notify_by: datetime
    subject_count: int | None
    data_categories: list[str]
    sensitive: bool
    unique_identifiers: bool
    cause: str
    measures: list[str]
    regulator_required: bool
    regulator_reasons: list[str]
    people_told: int
    people_told_at: datetime | None
    regulator_reported_at: datetime | None
    recorded_by: str
    recorded_at: datetime
    updated_at: datetime
    outcome: str | None
    closed_by: str | None
    closed_at: datetime | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Breach:
        values = {name: row[name] for name in _FIELDS}
        for name in ("data_categories", "measures", "regulator_reasons"):
            values[name] = list(values[name])
        return cls(**values)

    @property
    def open(self) -> bool:
        return self.status == "open"

    @property
    def external_access(self) -> bool:
        return self.cause == rules.EXTERNAL_ACCESS

    @property
    def people_done(self) -> bool:
        """Everyone affected was told: as many as are affected, or, while the number is unknown,
        at least one mailing recorded."""
        if self.people_told_at is None:
            return False
        return self.subject_count is None or self.people_told >= self.subject_count

    def outstanding(self) -> list[str]:
        """Who is still to be told (nobody once the breach is closed)."""
        if not self.open:
            return []
        out = [] if self.people_done else ["people"]
        if self.regulator_required and self.regulator_reported_at is None:
            out.append("regulator")
        return out

    def notice_due(self, now: datetime) -> int | None:
        """The reminder of the clock reached (72, 48, 24 hours) while someone is still to be told."""
        if not self.outstanding():
            return None
        return rules.clock_notice(self.discovered_at, now)

    def overdue(self, now: datetime) -> bool:
        return now > self.notify_by and bool(self.outstanding())

    def check_open(self) -> None:
        if not self.open:
            raise errors.BreachClosed(f"The breach {self.reference} is closed; nothing more is recorded on it.")

    def check_closable(self, outcome: str) -> None:
        self.check_open()
        missing = self.outstanding()
        if outcome == "handled" and missing:
            words = {"people": "the people affected are not all recorded as told",
                     "regulator": "the regulator is not recorded as reported to"}
            raise errors.StillOutstanding(
                f"The breach {self.reference} cannot be closed as handled: {'; '.join(words[m] for m in missing)}. "
                f"Record them first, or close it as not_a_breach if it was no leak.")


_FIELDS = tuple(f.name for f in fields(Breach))
