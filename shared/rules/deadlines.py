"""When a request must be answered: per jurisdiction, computed once at intake, extended once.

- Korea: 10 days from receipt, for a result, a refusal or a postponement alike; one extension of
  10 days (PIPA Enforcement Decree Arts. 41-44).
- Vietnam: acknowledged within 2 working days, completed within 15 days (20 when a processor is
  involved); one extension of 15 days (PDPL; Decree 13/2023/ND-CP).
- European Union: one month; one extension of two months, with notice (GDPR Art. 12(3)).

Days are the clinic's local days (:mod:`shared.rules.clinic`): a deadline falls at the end
(23:59:59) of its last day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

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
        if self.months:
            return "one month" if self.months == 1 else f"{self.months} months"
        return "one day" if self.days == 1 else f"{self.days} days"


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


@dataclass(frozen=True)
class Deadlines:
    due_at: datetime
    acknowledge_by: datetime | None
    extension: str  # how long the one extension adds, for the requester to read
    legal_basis: str


def end_of_day(moment: datetime, clinic_zone: ZoneInfo) -> datetime:
    return datetime.combine(moment.astimezone(clinic_zone).date(), time(23, 59, 59), tzinfo=clinic_zone)


def deadlines(jurisdiction: str, received_at: datetime, clinic_zone: ZoneInfo, *, processor_involved: bool,
              holidays: frozenset[date] = frozenset()) -> Deadlines:
    """The deadlines of a request received at ``received_at``, computed once, at intake."""
    rule = ANSWER_TIMES[jurisdiction]
    local = received_at.astimezone(clinic_zone)
    answer = rule.answer_with_processor if processor_involved and rule.answer_with_processor else rule.answer
    acknowledge_by = None
    if rule.acknowledge_working_days is not None:
        acknowledge_by = end_of_day(add_working_days(local, rule.acknowledge_working_days, holidays), clinic_zone)
        basis = (f"{rule.citation}: acknowledged within {rule.acknowledge_working_days} working days, "
                 f"completed within {answer.words}")
    else:
        basis = f"{rule.citation}: within {answer.words} of receipt"
    extension = rule.extension.words
    return Deadlines(end_of_day(answer.after(local), clinic_zone), acknowledge_by, extension, basis)


def extend(jurisdiction: str, due_at: datetime) -> datetime:
    """The deadline after the one extension allowed."""
    return ANSWER_TIMES[jurisdiction].extension.after(due_at)
