"""The breach register's words: its part of the one catalogue (``shared/i18n``, keys ``breach.*``):
the notice to the people affected, the report to the regulator, and the words of the breach pages.

The names of the data categories are the rules' own (``shared/rules/breaches.py``), like the
purposes' names in ``purposes.yaml``. Nothing here names a person: the drafts are made of the
breach's codes, counts and times, and the clinic's contacts from the settings.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from shared import i18n
from shared.i18n import LANGUAGES

__all__ = ["LANGUAGES", "category", "has", "join", "number", "people", "t", "when"]


def t(lang: str, key: str, **values: object) -> str:
    """The text of ``key`` in ``lang``, its placeholders filled."""
    return i18n.gettext(lang, "breach." + key, **values)


def has(key: str) -> bool:
    return i18n.has("breach." + key)


def category(lang: str, code: str) -> str:
    return i18n.word(lang, "category", code)


join = i18n.join
number = i18n.number


def people(lang: str, n: int | None) -> str:
    if n is None:
        return t(lang, "people.unknown")
    return i18n.ngettext(lang, "breach.people", n)


def when(lang: str, moment: datetime | None, zone: ZoneInfo) -> str:
    """A moment as each language writes it, in the clinic's time zone."""
    if moment is None:
        return t(lang, "time.unknown")
    local = moment.astimezone(zone)
    tz = local.strftime("%Z")
    if lang == "ko":
        return f"{local.year}년 {local.month}월 {local.day}일 {local:%H:%M} {tz}"
    if lang == "vi":
        return f"{local:%H:%M} {tz} ngày {local.day:02d}/{local.month:02d}/{local.year}"
    return f"{local.day} {local:%B} {local.year}, {local:%H:%M} {tz}"
