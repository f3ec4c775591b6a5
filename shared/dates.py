"""Dates and date-times as the contracts state them: text, never a number.

pydantic also reads a number, or a string holding one, as Unix time: ``1700000000`` and
``"3.7e-57"`` become date-times, ``86400`` becomes the date 1970-01-02. Every date-time of the
contracts is RFC 3339 text with its offset (a CloudEvent's ``time``: CloudEvents 1.0, "Timestamp";
every ``*_at`` field; the permission check's ``send_at``) and every date is ``YYYY-MM-DD`` (a birth
date). A number there is a sender's mistake, not a moment: it is refused with a message saying so,
and nothing is recorded for a time nobody wrote. The JSON Schema stays pydantic's
(``format: date-time`` / ``format: date``).

A Python ``datetime`` or ``date`` (a model built in code) passes unchanged.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import AwareDatetime, BeforeValidator


def _is_number(value: object) -> bool:
    if isinstance(value, bool):
        return False  # pydantic refuses it with its own message
    if isinstance(value, (int, float)):
        return True
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return False
        return True
    return False


def _date_time_text(value: object) -> object:
    if _is_number(value):
        raise ValueError("must be an RFC 3339 date-time with its offset (2026-12-01T21:30:00+09:00), not a number")
    return value


def _date_text(value: object) -> object:
    if _is_number(value):
        raise ValueError("must be a date written YYYY-MM-DD (2014-05-09), not a number")
    return value


#: An RFC 3339 date-time with its offset.
Timestamp = Annotated[AwareDatetime, BeforeValidator(_date_time_text)]
#: A calendar date, ``YYYY-MM-DD``.
Day = Annotated[date, BeforeValidator(_date_text)]
