"""One Jinja environment factory for the portal and the dashboard, and the time formatting they share."""

from __future__ import annotations

from datetime import datetime, tzinfo
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Undefined, pass_context
from jinja2.runtime import Context

from shared import i18n


def environment(directory: Path, *, strict: bool = False) -> Environment:
    """Templates under ``directory``, always autoescaped.

    ``strict``: a name the page does not pass is an error rather than an empty string (the
    portal, whose pages show legal text, wants to hear about a missing value; the dashboard's
    templates rely on absent optional values being empty).
    """
    env = Environment(loader=FileSystemLoader(directory), autoescape=True,
                      undefined=StrictUndefined if strict else Undefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["cite"] = _cite
    env.globals["word"] = _word
    env.globals["said"] = _said
    env.globals["actor"] = _actor
    env.globals["sysword"] = _sysword
    return env


@pass_context
def _cite(context: Context, citation: str | None) -> str:
    """``{{ citation | cite }}``: a legal citation as the page's language cites the law."""
    return i18n.citation(context["lang"], citation) if citation else ""


@pass_context
def _word(context: Context, table: str, code: object) -> str:
    """``{{ word("category", code) }}``: a code's words in the page's language (the code if none)."""
    return i18n.word(context["lang"], table, code) if code is not None else ""


def in_zone(value: datetime | str, zone: tzinfo) -> datetime:
    """A moment (or its ISO 8601 text, as the other services send it) on the clinic's clock."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.astimezone(zone)


def minute(value: datetime | str | None, zone: tzinfo) -> str:
    """``YYYY-MM-DD HH:MM`` on the clinic's clock; empty for nothing, and text that is no date as it is."""
    if value is None:
        return ""
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value
    else:
        moment = value
    return in_zone(moment, zone).strftime("%Y-%m-%d %H:%M")


@pass_context
def _said(context: Context, stored: dict | None, as_written: str | None) -> str:
    """``{{ said(tr.said, tr.reason) }}``: what the record says, in the page's language."""
    return i18n.said(context["lang"], stored, as_written)


@pass_context
def _actor(context: Context, actor: str | None) -> str:
    """``staff:lee`` as "직원: lee": who acted, their role in words and their name as it is."""
    if not actor:
        return ""
    role, _, name = actor.partition(":")
    return f"{i18n.word(context['lang'], 'role', role)}: {name}" if name else i18n.word(context["lang"], "role", role)


@pass_context
def _sysword(context: Context, text: str | None) -> str:
    """What a clinic system wrote (its name, a recipient) in the words it registered for the page's
    language (the page's ``words``), or as written."""
    words = context.get("words")
    return words(context["lang"], text) if words and text else (text or "")
