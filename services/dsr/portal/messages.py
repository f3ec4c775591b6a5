"""The portal's words: its part of the one catalogue (``shared/i18n``, keys ``portal.*``), the law's
values its texts name, and the codes its form offers.

The words themselves are in ``shared/i18n/locale/<lang>/LC_MESSAGES/dongui.po``.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from shared import i18n
from shared.i18n import LANGUAGE_NAMES, LANGUAGES
from shared.rules.ages import MINOR_BELOW
from shared.rules.deadlines import ANSWER_TIMES
from shared.rules.purposes import WITHDRAWABLE_PURPOSES
from shared.rules.retention import RETENTION_CLASSES

__all__ = ["LANGUAGES", "LANGUAGE_NAMES", "PURPOSES", "RESIDENCES", "RULE_VALUES", "TYPES", "WHO", "format_date",
           "format_moment", "has", "pick_language", "purpose_name", "retention_name", "t"]

TYPES = ("access", "rectification", "erasure", "restriction", "consent_withdrawal", "membership_withdrawal", "objection",
         "complaint")
WHO = ("self", "legal_representative", "agent")
#: Where the person lives, as the form asks: a law (it may add to the clinic's), or another country.
RESIDENCES = ("KR", "VN", "EU", "other")
#: The purposes a consent-withdrawal request can name (the catalogue's, shared/rules/purposes.py).
PURPOSES = WITHDRAWABLE_PURPOSES

#: The values of the law that texts name ({kr_days}…), from shared/rules: a text never repeats one.
RULE_VALUES: dict[str, Any] = {
    "kr_days": ANSWER_TIMES["KR"].answer.days,
    "vn_days": ANSWER_TIMES["VN"].answer.days,
    "vn_days_processor": ANSWER_TIMES["VN"].answer_with_processor.days,  # type: ignore[union-attr]
    "vn_ack_days": ANSWER_TIMES["VN"].acknowledge_working_days,
    "eu_months": ANSWER_TIMES["EU"].answer.months,
    "kr_minor_below": MINOR_BELOW["KR"],
    "medical_record_years": RETENTION_CLASSES["medical_record"].years,
}


def has(key: str) -> bool:
    return i18n.has("portal." + key)


def t(lang: str, key: str, **values: Any) -> str:
    """The portal's words ``key`` in ``lang``, placeholders filled from ``values``, then the law's."""
    return i18n.gettext(lang, "portal." + key, **{**RULE_VALUES, **values})


def purpose_name(lang: str, purpose: str) -> str:
    """A purpose as the portal names it, else as the purpose catalogue does (its id if neither)."""
    return t(lang, f"purpose.{purpose}") if has(f"purpose.{purpose}") else i18n.word(lang, "purpose", purpose)


def retention_name(lang: str, retention_class: str) -> str:
    """A retention class's name (``medical_record``: 진료기록부), or its code when it has none."""
    return i18n.word(lang, "retention", retention_class)


def format_date(lang: str, day: date | datetime) -> str:
    return i18n.format_date(lang, day)


def format_moment(lang: str, moment: datetime) -> str:
    return i18n.format_moment(lang, moment)


def pick_language(query: str | None, cookie: str | None, accept: str | None) -> str:
    """``?lang=`` first, then the cookie, then the browser's Accept-Language, then Korean."""
    return i18n.choose(query, cookie, accept_language=accept)
