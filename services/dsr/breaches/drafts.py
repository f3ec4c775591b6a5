"""The drafts of a breach: the notice to the people affected (PIPA Art. 34(1): the items leaked,
when and how, what they can do, what the clinic does, where to ask) and the fields of the report
to the regulator (Decree Art. 40), in ko, en or vi (``messages.py``).

The notice is made of the breach's codes and times and the clinic's contacts only: nothing staff
wrote about the case, and never a subject id. The report adds what staff wrote (the description,
the detail of the cause and of the measures), since the regulator asks how it happened; still no
subject id, only their number.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from services.dsr.breaches.messages import category, join, people, t, when
from services.dsr.breaches.model import Breach
from services.dsr.breaches.schemas import DraftSection, NoticeDraft, ReportDraft, ReportField
from shared.rules import breaches as rules
from shared.rules.grounds import remedies


@dataclass(frozen=True)
class Contacts:
    """The clinic's contacts the drafts name (``DSR_CONTROLLER_NAME``, ``DSR_PRIVACY_MANAGER_*``,
    ``DSR_HELP_DESK``)."""

    controller: str
    manager_name: str
    manager_contact: str
    help_desk: str | None


def _manager(contacts: Contacts) -> str:
    if contacts.manager_name:
        return f"{contacts.manager_name}, {contacts.manager_contact}"
    return contacts.manager_contact


def items(lang: str, breach: Breach) -> str:
    """What leaked, as a list that starts like a sentence."""
    text = join(lang, [category(lang, c) for c in breach.data_categories])
    return text[:1].upper() + text[1:]


def can_do(lang: str, breach: Breach) -> list[str]:
    """What the people affected can do, from what leaked."""
    kinds = [rules.DATA_CATEGORIES[c] for c in breach.data_categories if c in rules.DATA_CATEGORIES]
    lines = [t(lang, "can.always")]
    if any(c.credential for c in kinds):
        lines.append(t(lang, "can.credential"))
    if breach.unique_identifiers:
        lines.append(t(lang, "can.unique"))
    if any(c.financial for c in kinds):
        lines.append(t(lang, "can.financial"))
    if breach.sensitive:
        lines.append(t(lang, "can.sensitive"))
    return lines


def measures(lang: str, breach: Breach) -> list[str]:
    return [t(lang, f"measure.{m}") for m in breach.measures] or [t(lang, "measure.none")]


def _when_how(lang: str, breach: Breach, zone: ZoneInfo) -> str:
    discovered = when(lang, breach.discovered_at, zone)
    if breach.occurred_at is not None:
        moment = t(lang, "when.known", occurred=when(lang, breach.occurred_at, zone), discovered=discovered)
    else:
        moment = t(lang, "when.unknown", discovered=discovered)
    return f"{moment} {t(lang, f'how.{breach.cause}')}"


def _contact_lines(lang: str, contacts: Contacts) -> list[str]:
    lines = []
    if contacts.help_desk:
        lines.append(t(lang, "contact.desk", desk=contacts.help_desk))
    lines.append(t(lang, "contact.manager", manager=_manager(contacts)))
    return lines


def _bullets(lines: Sequence[str]) -> str:
    return "\n".join(f"- {line}" for line in lines)


def notice(breach: Breach, lang: str, contacts: Contacts, zone: ZoneInfo) -> NoticeDraft:
    # The bodies outside the clinic, from the one catalogue a refusal names them from too.
    external = [t(lang, "external.intro"), _bullets([r.line(lang) for r in remedies([rules.LAW])])]
    sections = [
        DraftSection(heading=t(lang, "h.items"), text=items(lang, breach)),
        DraftSection(heading=t(lang, "h.when"), text=_when_how(lang, breach, zone)),
        DraftSection(heading=t(lang, "h.can_do"), text=_bullets(can_do(lang, breach))),
        DraftSection(heading=t(lang, "h.we_do"), text=" ".join(measures(lang, breach)) + "\n" + t(lang, "relief")),
        DraftSection(heading=t(lang, "h.contact"), text="\n".join([*_contact_lines(lang, contacts), *external])),
    ]
    title = t(lang, "notice.title")
    parts = [title, t(lang, "notice.intro", controller=contacts.controller)]
    parts += [f"{s.heading}\n{s.text}" for s in sections]
    parts.append(t(lang, "notice.closing", controller=contacts.controller))
    return NoticeDraft(breach_id=str(breach.breach_id), reference=breach.reference, language=lang,
                       title=title, sections=sections, text="\n\n".join(parts) + "\n")


def regulator_decision(lang: str, breach: Breach) -> str:
    """Whether the regulator must be told, and why, in a sentence or two."""
    if breach.regulator_required:
        reasons = join(lang, [t(lang, f"reason.{r}") for r in breach.regulator_reasons])
        return t(lang, "required.yes", reasons=reasons)
    text = t(lang, "required.no")
    if breach.subject_count is None:
        text += " " + t(lang, "required.count_unknown")
    return text


def told(lang: str, disclosures: Sequence[dict[str, Any]], zone: ZoneInfo) -> str:
    entries = [t(lang, "told.entry", at=when(lang, d["at"], zone), people=people(lang, d["people"]),
                 channels=join(lang, [t(lang, f"channel.{c}") for c in d["channels"]]))
               for d in disclosures if d["kind"] == "people"]
    return "; ".join(entries) or t(lang, "told.none")


def report(breach: Breach, sealed: dict[str, Any], disclosures: Sequence[dict[str, Any]], lang: str,
           contacts: Contacts, zone: ZoneInfo) -> ReportDraft:
    how = " ".join(filter(None, [_when_how(lang, breach, zone), sealed.get("description")]))
    measures_text = " ".join(filter(None, [*measures(lang, breach), sealed.get("measures_detail")]))
    cause = " ".join(filter(None, [t(lang, f"cause.{breach.cause}"), sealed.get("cause_detail")]))
    contact = "; ".join(_contact_lines(lang, contacts))
    values = [
        ("controller", contacts.controller),
        ("contact", contact),
        ("items", items(lang, breach)),
        ("people", people(lang, breach.subject_count)),
        ("occurred", when(lang, breach.occurred_at, zone)),
        ("discovered", when(lang, breach.discovered_at, zone)),
        ("how", how),
        ("cause", cause),
        ("measures", measures_text),
        ("remedies", _bullets([*can_do(lang, breach), t(lang, "relief")])),
        ("people_told", told(lang, disclosures, zone)),
        ("required", regulator_decision(lang, breach)),
        ("notify_by", when(lang, breach.notify_by, zone)),
    ]
    fields = [ReportField(name=name, label=t(lang, f"r.{name}"), value=value) for name, value in values]
    title = t(lang, "report.title")
    text = "\n\n".join([title, *(f"{f.label}\n{f.value}" for f in fields)]) + "\n"
    return ReportDraft(breach_id=str(breach.breach_id), reference=breach.reference, language=lang,
                       regulator_required=breach.regulator_required, title=title, fields=fields, text=text)
