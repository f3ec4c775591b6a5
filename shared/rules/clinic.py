"""The clinic's time zone: the one clock every rule counts days on.

A child's age, a request's deadline, a record's retention and a night-time send are all counted
in the clinic's local days, so every service must use the same zone: it is one deployment-wide
setting, ``DONGUI_TIMEZONE`` (:class:`shared.settings.ServiceSettings`), never one per service.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

#: The clinics this product was born for are in Seoul.
DEFAULT_TIMEZONE = "Asia/Seoul"


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name``; ValueError naming it when there is none."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (an IANA name such as Asia/Seoul)") from None


def local_day(moment: datetime, clinic_zone: ZoneInfo) -> date:
    """The clinic's calendar day at ``moment``."""
    return moment.astimezone(clinic_zone).date()
