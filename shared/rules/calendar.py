"""Calendar arithmetic the way the law counts: whole calendar months, and working days.

"One month from 31 January" is the last day of February (the day of the month is kept where the
month has it, else the month's last day): :class:`dateutil.relativedelta.relativedelta` counts so.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import TypeVar

from dateutil.relativedelta import relativedelta

Day = TypeVar("Day", date, datetime)


def add_months(moment: Day, months: int = 0, *, years: int = 0) -> Day:
    """``moment`` plus calendar ``years`` and ``months`` (31 Jan + 1 month = 28/29 Feb)."""
    return moment + relativedelta(years=years, months=months)


def add_working_days(start: datetime, days: int, holidays: frozenset[date]) -> datetime:
    """``start`` plus ``days`` working days: Saturdays, Sundays and ``holidays`` are not counted."""
    moment = start
    while days > 0:
        moment += timedelta(days=1)
        if moment.weekday() < 5 and moment.date() not in holidays:
            days -= 1
    return moment
