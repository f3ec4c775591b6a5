"""Every word shown to a person, from one gettext catalogue (Babel), in Korean, English and Vietnamese.

The catalogue is ``shared/i18n/locale/<lang>/LC_MESSAGES/dongui.po``: one ``.po`` file per language,
the form translators' tools (Poedit, Weblate, Lokalize) edit. Its message ids are symbolic keys
("monolingual gettext"): ``portal.type.access``, ``status.verifying``; ``en.po`` holds the English
words and is the template the other languages translate (each entry of ``ko.po``/``vi.po`` carries
the English as a translator's comment). Legal citations are the exception: their id is the English
citation itself, in the ``citation`` context, so a clinic that adds a ground can add its
translations without inventing a key.

- One list of languages (:data:`LANGUAGES`), one language when nothing is known of the reader
  (:data:`DEFAULT`, Korean: the clinics are in Seoul), one fallback for a missing translation
  (:data:`FALLBACK`, English, the template). A test keeps the catalogue complete, so the fallback
  is a safety net, never a page's language.
- Plural forms are gettext's (``ngettext``): Korean and Vietnamese have one form, English two.
- Dates and numbers are written as each locale writes them (Babel's CLDR data): ``2026년 12월 5일``,
  ``5 December 2026``, ``ngày 5 tháng 12 năm 2026``; ``1,234`` and ``1.234``.

``python -m shared.i18n`` extracts the keys the code uses, checks and updates the catalogue (see
:mod:`shared.i18n.tool`). The ``.po`` files are compiled in memory when first used; nothing
compiled is kept in the repository.
"""

from __future__ import annotations

import importlib
import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any

from babel import Locale
from babel.dates import format_date as _babel_date
from babel.dates import format_time as _babel_time
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import Translations

LANGUAGES: tuple[str, ...] = ("ko", "en", "vi")
LANGUAGE_NAMES: dict[str, str] = {"ko": "한국어", "en": "English", "vi": "Tiếng Việt"}
DEFAULT = "ko"
FALLBACK = "en"
DOMAIN = "dongui"
LOCALE_DIR = Path(__file__).with_name("locale")
#: The CLDR locale each language writes dates and numbers in (British English: day before month).
LOCALES: dict[str, str] = {"ko": "ko_KR", "en": "en_GB", "vi": "vi_VN"}
CITATION = "citation"
#: Where a language's own documents write a date otherwise than CLDR's long form: Vietnamese
#: writes "ngày 5 tháng 12 năm 2026" (Decree 30/2020/ND-CP, Appendix I: the form of dates).
LONG_DATES: dict[str, str] = {"vi": "'ngày' d 'tháng' M 'năm' y"}


def po_path(lang: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def pick(lang: str | None) -> str:
    """``lang`` if the catalogue has it, else the default language."""
    return lang if lang in LANGUAGES else DEFAULT


@cache
def _catalog(lang: str) -> Catalog:
    """``lang``'s ``.po`` file, read once."""
    with po_path(lang).open("rb") as po:
        return read_po(po, locale=LOCALES[lang], domain=DOMAIN)


@cache
def translations(lang: str) -> Translations:
    """The compiled catalogue of ``lang``, falling back to English for a message it lacks."""
    compiled = io.BytesIO()
    write_mo(compiled, _catalog(lang))
    compiled.seek(0)
    found = Translations(compiled, domain=DOMAIN)
    if lang != FALLBACK:
        found.add_fallback(translations(FALLBACK))
    return found


class _Values(dict):
    """Placeholders filled from the values given; any other is left as written."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def fill(text: str, values: Mapping[str, Any]) -> str:
    return text.format_map(_Values(values)) if values and "{" in text else text


def gettext(lang: str, key: str, /, **values: Any) -> str:
    """The words of ``key`` in ``lang``, ``{placeholders}`` filled from ``values`` (a plural entry
    takes the form for ``values["n"]``)."""
    if key in _plural_keys() and isinstance(values.get("n"), int):
        return ngettext(lang, key, values.pop("n"), **values)
    return fill(translations(pick(lang)).gettext(key), values)


def ngettext(lang: str, key: str, n: int, /, **values: Any) -> str:
    """The words of ``key`` for ``n`` things, in the plural form ``lang`` uses for ``n``.

    The entry's plural id is the key with ``.plural``; ``{n}`` is ``n`` as ``lang`` writes numbers.
    """
    text = translations(pick(lang)).ngettext(key, key + ".plural", n)
    return fill(text, {"n": number(lang, n), **values})


def has(key: str) -> bool:
    """Whether the catalogue has ``key`` (in English, the template every language translates)."""
    return key in _keys()


@cache
def _template() -> list[Any]:
    return [m for m in _catalog(FALLBACK) if m.id and not m.context]


@cache
def _keys() -> frozenset[str]:
    return frozenset(m.id if isinstance(m.id, str) else m.id[0] for m in _template())


@cache
def _plural_keys() -> frozenset[str]:
    return frozenset(m.id[0] for m in _template() if isinstance(m.id, tuple))


def names(table: str) -> tuple[str, ...]:
    """The codes ``table`` has words for: ``names("status")`` → ``("received", "verifying", …)``."""
    prefix = table + "."
    return tuple(sorted(key[len(prefix):] for key in _keys() if key.startswith(prefix) and "." not in key[len(prefix):]))


#: Tables whose words live beside their rules rather than in the catalogue (the legal grounds of
#: ``shared/rules/grounds.yaml``, the purposes of ``purposes.yaml``, which a clinic may replace):
#: their modules register how to read a code in a language.
_ELSEWHERE: dict[str, Callable[[str, str], str | None]] = {}
#: The modules that register them, imported when first asked (they import this one).
_REGISTERED_BY = {"ground": "shared.rules.grounds", "purpose": "shared.rules.purposes"}


def words_elsewhere(table: str, read: Callable[[str, str], str | None]) -> None:
    """Register where ``table``'s words are: ``read(lang, code)``, None for an unknown code."""
    _ELSEWHERE[table] = read


def word(lang: str, table: str, code: object, /) -> str:
    """A code's words (``table.code``: ``status.verifying``), or the code itself when unknown."""
    if table in _REGISTERED_BY and table not in _ELSEWHERE:
        importlib.import_module(_REGISTERED_BY[table])
    if table in _ELSEWHERE:
        return _ELSEWHERE[table](pick(lang), str(code)) or str(code)
    key = f"{table}.{code}"
    return gettext(lang, key) if has(key) else str(code)


def citation(lang: str, text: str) -> str:
    """A legal citation as ``lang`` cites the law (Korean law names in Korean…); the English
    citation is the message id, and comes back unchanged when the catalogue does not know it."""
    return str(translations(pick(lang)).pgettext(CITATION, text))


# --- dates and numbers --------------------------------------------------------------------------


def locale(lang: str) -> Locale:
    return Locale.parse(LOCALES[pick(lang)])


def format_date(lang: str, day: date | datetime, form: str = "long") -> str:
    """``day`` as ``lang`` writes it: long (``2026년 12월 5일``) or short (``05/12/2026`` in Vietnamese)."""
    if isinstance(day, datetime):
        day = day.date()
    lang = pick(lang)
    pattern = LONG_DATES.get(lang, form) if form == "long" else form
    return _babel_date(day, format=pattern, locale=LOCALES[lang])


def format_moment(lang: str, moment: datetime) -> str:
    """A moment (already in the clinic's zone) as its long date and the 24-hour time."""
    return f"{format_date(lang, moment)} {_babel_time(moment, format='HH:mm', locale=LOCALES[pick(lang)])}"


def number(lang: str, n: int | float) -> str:
    return format_decimal(n, locale=LOCALES[pick(lang)])


def join(lang: str, items: list[str]) -> str:
    """A list as ``lang`` writes it in a sentence (CLDR list patterns: "a, b and c", "a, b và c")."""
    from babel.lists import format_list

    if not items:
        return ""
    return format_list(items, style="standard", locale=LOCALES[pick(lang)])


# --- the reader's language -----------------------------------------------------------------------


def negotiate(accept_language: str | None, default: str = DEFAULT) -> str:
    """The catalogue language the browser's ``Accept-Language`` prefers most (``q`` weights, then
    order; ``vi-VN`` counts as ``vi``), or ``default`` when it names none of them."""
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                quality = float(params[2:])
            except ValueError:
                quality = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary in LANGUAGES and quality > 0:
            ranked.append((-quality, index, primary))
    return min(ranked)[2] if ranked else default


def choose(*choices: str | None, accept_language: str | None = None, default: str = DEFAULT) -> str:
    """The first of ``choices`` (``?lang=``, a cookie…) the catalogue has, else the browser's."""
    for choice in choices:
        if choice in LANGUAGES:
            return choice
    return negotiate(accept_language, default)


# --- words recorded once, read in every language --------------------------------------------------


@dataclass(frozen=True)
class Said:
    """What the record says (an audit reason, a deadline's legal basis), kept so that each reader
    reads it in their own language: a catalogue key, the codes it names (put in words when read:
    ``("channel", "portal")``; the table ``citation`` cites a law), and values shown as written (a
    reference, a note someone typed, a number, another :class:`Said`: "10 days", or a list of them).

    ``str(said)`` is its English, the text the API and the logs carry.
    """

    key: str
    #: name → (table, code), or (table, [codes]) for a list ("name, phone number and address").
    codes: Mapping[str, tuple[str, Any]] = field(default_factory=dict)
    values: Mapping[str, Any] = field(default_factory=dict)

    def read(self, lang: str) -> str:
        def one(table: str, code: str) -> str:
            return citation(lang, code) if table == CITATION else word(lang, table, code)

        def shown(value: Any) -> Any:
            if isinstance(value, Said):
                return value.read(lang)
            if isinstance(value, list):
                return "; ".join(str(shown(v)) for v in value)
            return value

        words = {name: join(lang, [one(table, c) for c in code]) if isinstance(code, list) else one(table, code)
                 for name, (table, code) in self.codes.items()}
        return gettext(lang, self.key, **{**{name: shown(v) for name, v in self.values.items()}, **words})

    def __str__(self) -> str:
        return self.read(FALLBACK)

    def stored(self) -> dict[str, Any]:
        return {"key": self.key, "codes": {name: list(pair) for name, pair in self.codes.items()},
                "values": {name: _stored(value) for name, value in self.values.items()}}

    @classmethod
    def load(cls, stored: Mapping[str, Any] | None) -> Said | None:
        if not stored or "key" not in stored:
            return None
        values = {name: _loaded(value) for name, value in (stored.get("values") or {}).items()}
        return cls(stored["key"], {name: (table, code) for name, (table, code) in (stored.get("codes") or {}).items()},
                   values)


def _stored(value: Any) -> Any:
    if isinstance(value, Said):
        return value.stored()
    if isinstance(value, list):
        return [_stored(v) for v in value]
    return value


def _loaded(value: Any) -> Any:
    if isinstance(value, dict) and "key" in value:
        return Said.load(value)
    if isinstance(value, list):
        return [_loaded(v) for v in value]
    return value


def said(lang: str, stored: Mapping[str, Any] | None, as_written: str | None) -> str:
    """A recorded text in ``lang``: its words when it was recorded as :class:`Said`, else as written."""
    recorded = Said.load(stored)
    return recorded.read(lang) if recorded is not None else (as_written or "")
