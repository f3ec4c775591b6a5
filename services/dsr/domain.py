"""The rules of data-subject requests, as pure functions: deadlines, who may file, the state
machine, and what work each request type sends to which clinic system."""

from __future__ import annotations

import calendar
import secrets
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from shared.retention import RETENTION_CLASSES

OPEN_STATES = ("received", "verifying", "in_review", "approved", "in_progress")
CLOSED_STATES = ("completed", "partially_completed", "rejected", "withdrawn")

#: Allowed transitions of the workflow (rejected and withdrawn from any open state).
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "received": ("verifying", "rejected", "withdrawn"),
    "verifying": ("in_review", "rejected", "withdrawn"),
    "in_review": ("approved", "rejected", "withdrawn"),
    "approved": ("in_progress", "completed", "rejected", "withdrawn"),
    "in_progress": ("completed", "partially_completed", "rejected", "withdrawn"),
    # An approved objection re-opens the request it objected to.
    "rejected": ("in_review",),
}

#: Ages below which a legal representative must act, per jurisdiction (PIPA 22-2; Vietnam's
#: Decree 13 art. 20 for children; GDPR art. 8).
MINOR_BELOW = {"KR": 14, "VN": 16, "EU": 16}

#: Verification methods accepted for identity and for a representative's authority
#: (Decree 17-2(1) and 46): a signed document, mobile-phone identity verification, SMS or email
#: confirmation, in person with an ID, a written power of attorney for an agent.
VERIFICATION_METHODS = ("signed_document", "mobile_phone", "sms", "email", "in_person", "power_of_attorney")

#: Classes whose records are amended, never overwritten (Medical Service Act 22(2)).
AMEND_CLASSES = frozenset({"medical_record", "surgery_record", "nursing_record", "test_findings", "radiology"})

#: Purposes that come with website membership (withdrawing membership withdraws them).
MEMBERSHIP_PURPOSES = ("membership", "marketing_email", "marketing_sms", "marketing_night", "cookies_analytics")

TaskKind = Literal["export", "erase", "rectify", "restrict", "lift"]


def can_move(current: str, target: str) -> bool:
    return target in TRANSITIONS.get(current, ())


def age_on(birth_date: date, day: date) -> int:
    return day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))


def is_minor(jurisdiction: str, birth_date: date | None, day: date) -> bool:
    return birth_date is not None and age_on(birth_date, day) < MINOR_BELOW[jurisdiction]


def _add_months(moment: datetime, months: int) -> datetime:
    month = moment.month - 1 + months
    year, month = moment.year + month // 12, month % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def add_working_days(start: datetime, days: int, holidays: frozenset[date]) -> datetime:
    moment = start
    while days > 0:
        moment += timedelta(days=1)
        if moment.weekday() < 5 and moment.date() not in holidays:
            days -= 1
    return moment


@dataclass(frozen=True)
class Deadlines:
    due_at: datetime
    acknowledge_by: datetime | None
    extension: str  # how long the one extension adds, for the requester to read
    legal_basis: str


def deadlines(jurisdiction: str, received_at: datetime, zone: ZoneInfo, *, processor_involved: bool,
              holidays: frozenset[date] = frozenset()) -> Deadlines:
    """The deadline of a request received at ``received_at``, computed once, at intake.

    Days are the clinic's local days: a deadline falls at the end (23:59:59) of its last day.
    """
    local = received_at.astimezone(zone)

    def end_of_day(moment: datetime) -> datetime:
        return datetime.combine(moment.date(), time(23, 59, 59), tzinfo=zone)

    if jurisdiction == "KR":
        return Deadlines(end_of_day(local + timedelta(days=10)), None, "10 days",
                         "PIPA Enforcement Decree arts. 41-44: within 10 days of receipt")
    if jurisdiction == "VN":
        days = 20 if processor_involved else 15
        return Deadlines(end_of_day(local + timedelta(days=days)),
                         end_of_day(add_working_days(local, 2, holidays)), "15 days",
                         f"Vietnam PDPL / Decree 13: acknowledged within 2 working days, completed within {days} days")
    return Deadlines(end_of_day(_add_months(local, 1)), None, "2 months",
                     "GDPR art. 12(3): within one month of receipt")


def extend(jurisdiction: str, due_at: datetime) -> datetime:
    """The deadline after the one extension allowed."""
    if jurisdiction == "KR":
        return due_at + timedelta(days=10)
    if jurisdiction == "VN":
        return due_at + timedelta(days=15)
    return _add_months(due_at, 2)


def new_reference(now: datetime) -> str:
    """A reference a person can read out on the phone: no 0/O or 1/I/L to confuse."""
    alphabet = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
    return f"DSR-{now.year}-" + "".join(secrets.choice(alphabet) for _ in range(5))


@dataclass(frozen=True)
class PlannedTask:
    system_id: str
    kind: TaskKind
    retain_classes: tuple[str, ...] = ()
    amend_classes: tuple[str, ...] = ()


def plan_tasks(request_type: str, systems: list[dict]) -> list[PlannedTask]:
    """What each registered system must do for an approved request of ``request_type``."""
    tasks: list[PlannedTask] = []
    for system in systems:
        classes = tuple(system["retention_classes"])
        # Classes kept for a fixed legal period are retained while within it; the rest may go.
        legal = tuple(c for c in classes if c in RETENTION_CLASSES and RETENTION_CLASSES[c].fixed)
        if request_type == "access":
            tasks.append(PlannedTask(system["system_id"], "export"))
        elif request_type == "erasure" or (request_type == "membership_withdrawal" and "membership" in classes):
            tasks.append(PlannedTask(system["system_id"], "erase", retain_classes=legal))
        elif request_type == "rectification":
            tasks.append(PlannedTask(system["system_id"], "rectify",
                                     amend_classes=tuple(c for c in classes if c in AMEND_CLASSES)))
        elif request_type == "restriction":
            tasks.append(PlannedTask(system["system_id"], "restrict"))
    return tasks
