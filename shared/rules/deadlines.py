"""When a request must be answered: per law, computed once at intake, extended once.

- Korea: 10 days from receipt, for a result, a refusal or a postponement alike; one extension of
  10 days (PIPA Enforcement Decree Arts. 41-44).
- Vietnam: acknowledged within 2 working days, completed within 15 days (20 when a processor is
  involved); one extension of 15 days (PDPL; Decree 13/2023/ND-CP).
- European Union: one month; one extension of two months, with notice (GDPR Art. 12(3)).

The law that governs a request is the clinic's (``DONGUI_CLINIC_JURISDICTION``), never one the
requester picks. Another law that applies to the person (they live in Vietnam or the EU) may only
shorten the time or add a right: a request is due at the earliest of the laws' due dates, is
extended by the shortest of their extensions, and keeps every acknowledgement any of them gives
(:func:`applicable_laws`, :func:`deadlines`, :func:`extend`).

Days are the clinic's local days (:mod:`shared.rules.clinic`): a deadline falls at the end
(23:59:59) of its last day.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from shared.i18n import CITATION, Said
from shared.rules.calendar import add_months, add_working_days


@dataclass(frozen=True)
class Period:
    """A legal period in days or calendar months."""

    days: int = 0
    months: int = 0

    def after(self, moment: datetime) -> datetime:
        return add_months(moment, self.months) + timedelta(days=self.days)

    @property
    def words(self) -> str:
        """The period in English words, as the legal basis and the extension are written."""
        return str(self.said)

    @property
    def said(self) -> Said:
        """The period, to be read in any language ("one month", "10일", "15 ngày")."""
        return Said("period.months", values={"n": self.months}) if self.months else \
            Said("period.days", values={"n": self.days})


@dataclass(frozen=True)
class AnswerTime:
    """A jurisdiction's time limits for answering a request."""

    jurisdiction: str
    answer: Period
    extension: Period
    citation: str
    #: The longer limit when a processor is involved (Vietnam), else None.
    answer_with_processor: Period | None = None
    #: Working days to acknowledge receipt (Vietnam), else None.
    acknowledge_working_days: int | None = None


ANSWER_TIMES: dict[str, AnswerTime] = {
    "KR": AnswerTime("KR", answer=Period(days=10), extension=Period(days=10),
                     citation="PIPA Enforcement Decree arts. 41-44"),
    "VN": AnswerTime("VN", answer=Period(days=15), extension=Period(days=15),
                     citation="Vietnam PDPL / Decree 13",
                     answer_with_processor=Period(days=20), acknowledge_working_days=2),
    "EU": AnswerTime("EU", answer=Period(months=1), extension=Period(months=2),
                     citation="GDPR art. 12(3)"),
}


#: The laws a request may be answered under (``shared.events.Jurisdiction``).
Law = Literal["KR", "VN", "EU"]
#: The law a clinic answers under when none is configured: the clinics this product was born for
#: are in Seoul.
DEFAULT_CLINIC_LAW: Law = "KR"


def applicable_laws(clinic_law: str, residence: str | None = None) -> tuple[str, ...]:
    """The laws a request is answered under: the clinic's, then the person's residence law if it is
    another (it may only shorten the time or add rights)."""
    if residence is None or residence == clinic_law:
        return (clinic_law,)
    return (clinic_law, residence)


@dataclass(frozen=True)
class Deadlines:
    due_at: datetime
    acknowledge_by: datetime | None
    extension: str  # how long the one extension adds, for the requester to read
    #: Why these deadlines, to be read in any language; ``legal_basis`` is its English.
    basis: Said

    @property
    def legal_basis(self) -> str:
        return str(self.basis)


def end_of_day(moment: datetime, clinic_zone: ZoneInfo) -> datetime:
    return datetime.combine(moment.astimezone(clinic_zone).date(), time(23, 59, 59), tzinfo=clinic_zone)


def _laws(laws: str | Sequence[str]) -> tuple[str, ...]:
    return (laws,) if isinstance(laws, str) else tuple(dict.fromkeys(laws))


def deadlines(laws: str | Sequence[str], received_at: datetime, clinic_zone: ZoneInfo, *,
              processor_involved: bool, holidays: frozenset[date] = frozenset()) -> Deadlines:
    """The deadlines of a request received at ``received_at``, computed once, at intake, under
    ``laws`` (one law, or the clinic's first and then the person's): the strictest of them."""
    rules = [ANSWER_TIMES[law] for law in _laws(laws)]
    local = received_at.astimezone(clinic_zone)
    due: list[tuple[datetime, AnswerTime, Period]] = []
    acknowledged: list[tuple[datetime, AnswerTime]] = []
    for rule in rules:
        answer = rule.answer_with_processor if processor_involved and rule.answer_with_processor else rule.answer
        due.append((end_of_day(answer.after(local), clinic_zone), rule, answer))
        if rule.acknowledge_working_days is not None:
            acknowledged.append((end_of_day(add_working_days(local, rule.acknowledge_working_days, holidays),
                                            clinic_zone), rule))
    due_at, by, answer = min(due, key=lambda d: d[0])  # the first law wins a tie: the clinic's
    acknowledge_by, acknowledging = min(acknowledged, key=lambda a: a[0]) if acknowledged else (None, None)
    cited: dict[str, tuple[str, Any]] = {"citation": (CITATION, by.citation)}
    if len(rules) == 1:
        if acknowledging is not None:
            basis = Said("deadline.basis.acknowledged", cited,
                         {"working_days": by.acknowledge_working_days, "period": answer.said})
        else:
            basis = Said("deadline.basis.within", cited, {"period": answer.said})
    else:
        # Two laws at most (applicable_laws): the clinic's, and the person's residence law.
        whose: dict[str, tuple[str, Any]] = {"clinic": ("jurisdiction", rules[0].jurisdiction),
                                             "person": ("jurisdiction", rules[1].jurisdiction)}
        if acknowledging is not None:
            basis = Said("deadline.basis.strictest_acknowledged",
                         {**cited, **whose, "acknowledged_citation": (CITATION, acknowledging.citation)},
                         {"period": answer.said, "working_days": acknowledging.acknowledge_working_days})
        else:
            basis = Said("deadline.basis.strictest", {**cited, **whose}, {"period": answer.said})
    return Deadlines(due_at, acknowledge_by, _shortest_extension(rules, due_at).extension.words, basis)


def _shortest_extension(rules: Sequence[AnswerTime], due_at: datetime) -> AnswerTime:
    return min(rules, key=lambda rule: rule.extension.after(due_at))


def extend(laws: str | Sequence[str], due_at: datetime) -> datetime:
    """The deadline after the one extension allowed: the shortest of ``laws``' extensions."""
    rules = [ANSWER_TIMES[law] for law in _laws(laws)]
    return _shortest_extension(rules, due_at).extension.after(due_at)
