"""A result as a person reads it, in their language: the one reading of a result that the status
page and the printable report share (issue 21).

:func:`read` takes the result as :meth:`services.dsr.results.Results.result` gives it (the JSON a
machine reads, codes and all) and puts every code in words: the records each system returned,
grouped by system and category, each field named; the systems that hold nothing (never listed as
recipients); what is kept, how long and by which law (cited as the language cites it); who received
data, and what a law made the clinic provide. What a clinic system wrote itself (its name, its
recipients) comes in the words it registered for the language (:class:`SystemWords`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from shared import i18n
from shared.rules.provisions import PROVISION_GROUNDS

ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class SystemWords:
    """The words clinic systems registered for what they write (their names, their recipients),
    by language: ``{"Marketing list": {"ko": "마케팅 명단", "vi": "Danh sách tiếp thị"}}``."""

    translations: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def __call__(self, lang: str, text: str) -> str:
        return (self.translations.get(text) or {}).get(lang) or text


@dataclass(frozen=True)
class CategoryView:
    name: str
    #: One record per entry: its fields as (label, value), in the reader's words.
    records: list[list[tuple[str, str]]]


@dataclass(frozen=True)
class SystemView:
    name: str
    categories: list[CategoryView]


@dataclass(frozen=True)
class ResultView:
    found: list[SystemView]
    holds_nothing: list[str]
    retention: list[str]
    recipients: list[str]
    provided_by_law: list[str]
    kept_by_law: list[str]
    #: For a request other than access: what each system did.
    outcomes: list[str]


def value(lang: str, raw: Any) -> str:
    """A record's value as the reader reads it: yes/no for a flag, a day as the language writes it."""
    if isinstance(raw, bool):
        return i18n.gettext(lang, "field.yes" if raw else "field.no")
    if isinstance(raw, dict):
        return ", ".join(f"{i18n.word(lang, 'field', k)}: {value(lang, v)}" for k, v in raw.items())
    if isinstance(raw, list):
        return "; ".join(value(lang, v) for v in raw)
    if isinstance(raw, str) and ISO_DAY.match(raw):
        try:
            return i18n.format_date(lang, date.fromisoformat(raw))
        except ValueError:
            return raw
    return str(raw)


def records(lang: str, items: Any) -> list[list[tuple[str, str]]]:
    """What a system exported of one category: a record per entry, each field named."""
    entries = items if isinstance(items, list) else [items]
    out = []
    for entry in entries:
        if isinstance(entry, dict):
            out.append([(i18n.word(lang, "field", k), value(lang, v)) for k, v in entry.items()])
        elif entry is not None:
            out.append([("", value(lang, entry))])
    return out


def read(result: dict[str, Any], lang: str, words: Callable[[str, str], str] = SystemWords()) -> ResultView:
    """``result`` in ``lang``'s words (see the module's docstring)."""

    def category(code: str) -> str:
        return i18n.word(lang, "category", code)

    def cite(text: str | None) -> str:
        return f" — {i18n.citation(lang, text)}" if text else ""

    systems = result.get("systems") or []
    found = [s for s in systems if s.get("exported")]
    kept = [f"{category(k['category'])} ({words(lang, str(k.get('system') or k.get('system_id')))})"
            + (f": {i18n.gettext(lang, 'portal.kept_until', day=value(lang, str(k['until'])[:10]))}"
               if k.get("until") else "")
            + cite(k.get("legal_ground"))
            for k in result.get("kept_by_law") or []]
    if result.get("type") != "access":
        return ResultView([], [], [], [], [], kept, [
            f"{words(lang, s['name'])}: {i18n.word(lang, 'outcome', s.get('outcome') or s.get('status'))}"
            for s in systems])
    # Who received data: only what a system that returned some named, and the processors among
    # them (a system that holds nothing gave nothing to anyone).
    recipients = sorted({words(lang, r) for s in found for item in s["exported"] for r in item.get("recipients", [])}
                        | {words(lang, s["name"]) for s in found if s.get("processor")})
    return ResultView(
        found=[SystemView(words(lang, s["name"]),
                          [CategoryView(category(item["category"]), records(lang, item.get("items")))
                           for item in s["exported"]]) for s in found],
        holds_nothing=[words(lang, s["name"]) for s in systems if not s.get("exported")],
        retention=[f"{category(r['category'])}: {i18n.word(lang, 'retention', r['retention_class'])}"
                   + cite(r.get("legal_ground")) for r in result.get("retention") or []],
        recipients=recipients,
        provided_by_law=[_provided(lang, p) for p in result.get("provided_by_law") or []],
        kept_by_law=kept,
        outcomes=[],
    )


def _provided(lang: str, provision: dict[str, Any]) -> str:
    """A provision a law required: to whom, what, when, and the law (in ``lang``, whatever the
    language the result was made in)."""
    ground = PROVISION_GROUNDS.get(str(provision.get("id")))
    recipient = ground.recipient.get(lang) if ground else provision.get("recipient", "")
    what = ", ".join(i18n.word(lang, "category", c) for c in provision.get("data_categories") or [])
    when = provision.get("provided_at")
    day = i18n.format_date(lang, when) if isinstance(when, date) else value(lang, str(when or "")[:10])
    citation = i18n.citation(lang, provision.get("citation") or "")
    return " — ".join(part for part in (recipient, what, day, citation) if part)
