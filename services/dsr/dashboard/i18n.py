"""The dashboard's words: its part of the one catalogue (``shared/i18n``, keys ``dashboard.*``).

The words themselves are in ``shared/i18n/locale/<lang>/LC_MESSAGES/dongui.po``. Codes the services
hand over (statuses, request types, methods…) are put in words with :func:`shared.i18n.word`.
"""

from __future__ import annotations

from shared import i18n
from shared.i18n import LANGUAGE_NAMES, LANGUAGES

__all__ = ["LANGUAGES", "LANGUAGE_NAMES", "has", "pick", "translate"]


def translate(lang: str, key: str, **values: object) -> str:
    return i18n.gettext(lang, "dashboard." + key, **values)


def has(key: str) -> bool:
    return i18n.has("dashboard." + key)


def pick(value: str | None) -> str:
    return i18n.pick(value)
