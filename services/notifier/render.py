"""Words for a notice, in the recipient's language: the inbox text, the email and the webhook body.

The catalogue (``shared/i18n``, keys ``notifier.*``) holds one subject, summary and action per kind
and language, as Jinja2 templates over :func:`Renderer.variables`, the labels around them, and the
words of the codes they name (``status.verifying``, ``notifier.need.power_of_attorney``…). Emails are plain text with an HTML
alternative; the HTML is autoescaped, so a reason from a dead letter cannot inject markup.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.header import Header
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr, parseaddr
from typing import Any
from zoneinfo import ZoneInfo

import jinja2

from services.notifier.kinds import REQUESTER_KINDS, Kind
from shared import i18n
from shared.rules import grounds

LANGUAGES = i18n.LANGUAGES
#: The labels around a message, and those a requester reads instead of the staff's.
LABELS = i18n.names("notifier.label")
REQUESTER_LABELS = i18n.names("notifier.requester_label")


@dataclass(frozen=True)
class Rendered:
    title: str
    summary: str
    action: str
    link: str | None


def format_time(value: str | datetime | None, language: str, zone: ZoneInfo) -> str | None:
    """A moment as the clinic's staff read it, in their language and the clinic's time zone."""
    if value is None:
        return None
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    local = moment.astimezone(zone)
    tz = local.strftime("%Z")
    if language == "ko":
        return f"{local.year}년 {local.month}월 {local.day}일 {local:%H:%M} {tz}"
    if language == "vi":
        return f"{local:%H:%M} {tz} ngày {local.day:02d}/{local.month:02d}/{local.year}"
    return f"{local.day} {local:%b} {local.year}, {local:%H:%M} {tz}"


_TEXT_EMAIL = """\
{{ summary }}

{{ labels.what_to_do }}: {{ action }}
{% if rows %}
{% for label, value in rows %}{{ label }}: {{ value }}
{% endfor %}{% endif %}{% if counts %}
{{ labels.day }} | {{ labels.purpose }} | {{ labels.count }}
{% for c in counts %}{{ c.day }} | {{ c.purpose }} | {{ c.count }}
{% endfor %}{% endif %}{% if link %}
{{ link_label }}: {{ link }}
{% endif %}
--
{{ labels.footer }}
"""

_HTML_EMAIL = """\
<!DOCTYPE html>
<html lang="{{ language }}">
<head><meta charset="utf-8"><title>{{ title }}</title></head>
<body style="font-family: -apple-system, 'Segoe UI', 'Apple SD Gothic Neo', 'Malgun Gothic', Arial, sans-serif; color: #1f2933; line-height: 1.5;">
<h2 style="font-size: 18px;">{{ title }}</h2>
<p>{{ summary }}</p>
<p style="background: #fff7e6; border-left: 4px solid #f0a020; padding: 8px 12px;"><strong>{{ labels.what_to_do }}:</strong> {{ action }}</p>
{% if rows %}<table style="border-collapse: collapse;">
{% for label, value in rows %}<tr><th style="text-align: left; padding: 2px 12px 2px 0; color: #52606d;">{{ label }}</th><td>{{ value }}</td></tr>
{% endfor %}</table>{% endif %}
{% if counts %}<table style="border-collapse: collapse;">
<tr><th style="text-align: left; padding-right: 12px;">{{ labels.day }}</th><th style="text-align: left; padding-right: 12px;">{{ labels.purpose }}</th><th style="text-align: right;">{{ labels.count }}</th></tr>
{% for c in counts %}<tr><td style="padding-right: 12px;">{{ c.day }}</td><td style="padding-right: 12px;">{{ c.purpose }}</td><td style="text-align: right;">{{ c.count }}</td></tr>
{% endfor %}</table>{% endif %}
{% if link %}<p><a href="{{ link }}">{{ link_label }}</a></p>{% endif %}
<p style="color: #7b8794; font-size: 12px;">{{ labels.footer }}</p>
</body>
</html>
"""


class Renderer:
    def __init__(self, *, zone: ZoneInfo, dashboard_url: str, policy_url: str, breach_url: str | None = None) -> None:
        self.zone = zone
        self.dashboard_url = dashboard_url
        self.policy_url = policy_url
        self.breach_url = breach_url
        # StrictUndefined: a template naming a variable that does not exist fails (in the tests),
        # never sends an email with a hole in it.
        self._text = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False,
                                        keep_trailing_newline=True)
        self._html = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=True)
        self._text_email = self._text.from_string(_TEXT_EMAIL)
        self._html_email = self._html.from_string(_HTML_EMAIL)
        self._templates: dict[tuple[str, str, str], jinja2.Template] = {}

    # --- words ---------------------------------------------------------------------------------

    def labels(self, language: str, *, requester: bool = False) -> dict[str, str]:
        """The words around a message; a requester's own where they differ from the staff's."""
        labels = {name: i18n.gettext(language, f"notifier.label.{name}") for name in LABELS}
        if requester:
            labels.update({name: i18n.gettext(language, f"notifier.requester_label.{name}")
                           for name in REQUESTER_LABELS})
        return labels

    def _word(self, table: str, language: str, code: Any) -> str:
        if code is None:
            return i18n.gettext(language, "notifier.label.unknown")
        return i18n.word(language, table, code)

    def variables(self, kind: Kind, facts: dict[str, Any], language: str) -> dict[str, Any]:
        """Every name a template may use, each with a value (``unknown`` when the fact is missing)."""
        unknown = self.labels(language)["unknown"]

        def fact(name: str) -> Any:
            value = facts.get(name)
            return unknown if value is None or value == "" else value

        type_ = self._word("type", language, facts.get("type"))
        return {
            **self._breach_variables(facts, language),
            **self._requester_variables(facts, language),
            "ref": fact("reference"),
            "type": type_,
            # English needs its article: "an erasure request", "a correction request".
            "a_type": (("an " if type_[:1].lower() in "aeiou" else "a ") + type_) if language == "en" else type_,
            "status": self._word("status", language, facts.get("status")),
            "channel": self._word("channel", language, facts.get("channel")),
            "method": self._word("method", language, facts.get("method")),
            "jurisdiction": self._word("jurisdiction", language, facts.get("jurisdiction")),
            "outcome": self._word("notifier.outcome", language, facts.get("outcome")),
            "due": format_time(facts.get("due_at"), language, self.zone) or unknown,
            "previous_due": format_time(facts.get("previous_due_at"), language, self.zone) or unknown,
            "effective_at": format_time(facts.get("effective_at"), language, self.zone) or unknown,
            **{name: fact(name) for name in (
                "threshold", "system_id", "attempts", "decided_by", "objects_to", "policy_id", "version",
                "published_by", "topic", "partition", "offset", "consumer", "source", "reason", "day", "total",
                "asked_by",
            )},
        }

    def _requester_variables(self, facts: dict[str, Any], language: str) -> dict[str, Any]:
        """The names the requester's texts use: the ground's words and citation, how to object, the
        remedies with their contacts (all from shared/rules/grounds.yaml), what is needed, by code."""
        unknown = self.labels(language)["unknown"]
        ground = grounds.GROUNDS.get(str(facts.get("ground")))
        by_id = {r.id: r for r in grounds.CATALOGUE.remedies}
        remedies = [by_id[r] for r in facts.get("remedies") or [] if r in by_id]
        return {
            "ground": ground.line(language) if ground else unknown,
            "how_to_object_refusal": grounds.how_to_object("refusal", language),
            "how_to_object_extension": grounds.how_to_object("extension", language),
            "remedies": "; ".join(", ".join(p for p in (r.name(language), r.phone, r.url) if p) for r in remedies)
            or unknown,
            "needed": self._word("notifier.need", language, facts.get("needed")),
            "told_message": self._word("notifier.told", language, facts.get("told")),
            "acknowledge_by": format_time(facts.get("acknowledge_by"), language, self.zone) or unknown,
            "acknowledges": bool(facts.get("acknowledge_by")),
            "child_own": bool(facts.get("child_own_request")),
            "is_complaint": facts.get("type") == "complaint",
            "partial": facts.get("outcome") == "partially_completed",
        }

    def _breach_variables(self, facts: dict[str, Any], language: str) -> dict[str, Any]:
        """The names the breach kinds' texts use (codes in words; counts; the 72-hour clock)."""
        unknown = self.labels(language)["unknown"]

        def number(value: Any) -> str:
            return i18n.number(language, value) if isinstance(value, int) else unknown

        def words(table: str, codes: Any) -> str:
            return ", ".join(self._word(table, language, c) for c in codes or []) or self._word(table, language, "none")

        categories = ", ".join(i18n.word(language, "category", c) for c in facts.get("data_categories") or [])
        return {
            "discovered": format_time(facts.get("discovered_at"), language, self.zone) or unknown,
            "hours": facts.get("hours_elapsed") or unknown,
            "people": number(facts.get("subject_count")),
            "categories": categories or unknown,
            "regulator_required": bool(facts.get("regulator_required")),
            "reasons": words("notifier.breach_reason", facts.get("regulator_reasons")),
            "outstanding": words("notifier.breach_outstanding", facts.get("outstanding")),
            "told": number(facts.get("people_told", 0)),
            "count": number(facts.get("count")),
            "regulator": self._word("notifier.regulator", language, facts.get("regulator")),
            # A destruction's: the systems that have not confirmed, and the purposes withdrawn.
            "systems_outstanding": ", ".join(map(str, facts.get("systems_outstanding") or [])) or unknown,
            "purposes": ", ".join(i18n.word(language, "purpose", p) for p in facts.get("purposes") or []) or unknown,
        }

    def _template(self, kind: Kind, language: str, part: str) -> jinja2.Template:
        key = (kind.value, language, part)
        if key not in self._templates:
            self._templates[key] = self._text.from_string(
                i18n.gettext(language, f"notifier.kind.{kind.value}.{part}"))
        return self._templates[key]

    def render(self, kind: Kind, facts: dict[str, Any], language: str) -> Rendered:
        values = self.variables(kind, facts, language)
        return Rendered(
            title=self._template(kind, language, "subject").render(values),
            summary=self._template(kind, language, "summary").render(values),
            action=self._template(kind, language, "action").render(values),
            link=self.link(kind, facts),
        )

    def link(self, kind: Kind, facts: dict[str, Any]) -> str | None:
        if kind in REQUESTER_KINDS:
            return None  # the requester's private link is asked for at each delivery, never stored
        if facts.get("request_id"):
            return self.dashboard_url + str(facts["request_id"])
        if kind is Kind.policy_published and facts.get("policy_id"):
            return self.policy_url + str(facts["policy_id"])
        if facts.get("breach_id") and self.breach_url:
            return self.breach_url + str(facts["breach_id"])
        return None

    def rows(self, kind: Kind, facts: dict[str, Any], language: str) -> list[tuple[str, str]]:
        """The facts worth a line of their own under the text, labelled in the language."""
        labels = self.labels(language)
        values = self.variables(kind, facts, language)
        if kind in REQUESTER_KINDS:  # what the requester gave or was given: the reference, the deadline
            return [(labels["reference"], str(values["ref"])), (labels["type"], values["type"]),
                    (labels["due"], values["due"])]
        if facts.get("request_id"):
            filer = "child" if facts.get("child_own_request") else "guardian" if facts.get("by_guardian") else "self"
            return [
                (labels["reference"], str(values["ref"])),
                (labels["type"], values["type"]),
                (labels["status"], values["status"]),
                (labels["due"], values["due"]),
                (labels["jurisdiction"], values["jurisdiction"]),
                (labels["filed_by"], self._word("notifier.filer", language, filer)),
            ]
        if facts.get("breach_id"):
            regulator = (values["reasons"] if values["regulator_required"]
                         else self._word("notifier.breach_reason", language, "not_required"))
            return [
                (labels["reference"], str(values["ref"])),
                (labels["discovered"], values["discovered"]),
                (labels["due"], values["due"]),
                (labels["people"], str(values["people"])),
                (labels["categories"], values["categories"]),
                (labels["regulator"], regulator),
                (labels["outstanding"], values["outstanding"]),
            ]
        if kind is Kind.dead_letter:
            where = f"{values['topic']} / {values['partition']} / {values['offset']}"
            return [
                (labels["topic"], where),
                (labels["consumer"], str(values["consumer"])),
                (labels["source"], str(values["source"])),
                (labels["event_type"], str(facts.get("event_type") or labels["unknown"])),
                (labels["reason"], str(values["reason"])),
            ]
        return []

    # --- email -----------------------------------------------------------------------------------

    def email(self, notification: dict[str, Any], *, to_name: str, to_address: str, sender: str,
              link: str | None = None) -> MIMEMultipart:
        """The email of a stored notification: the texts it was created with, and its facts;
        ``link``: a requester's private link, given at the delivery (never stored)."""
        language = notification["language"]
        kind = Kind(notification["kind"])
        labels = self.labels(language, requester=kind in REQUESTER_KINDS)
        link_label = (labels["open_policy"] if kind is Kind.policy_published
                      else labels["open_breach"] if notification["facts"].get("breach_id") else labels["open_request"])
        context = {
            "language": language,
            "title": notification["title"],
            "summary": notification["summary"],
            "action": notification["action"],
            "link": link or notification["link"],
            "link_label": link_label,
            "labels": labels,
            "rows": self.rows(kind, notification["facts"], language),
            "counts": notification["facts"].get("counts") if kind is Kind.withdrawal_digest else None,
        }
        # Built with the compat32 classes: Python 3.11's default policy loses a space where it
        # folds a long non-ASCII subject ("do chính" arrives as "dochính"); Header encodes whole
        # words and keeps it.
        message = MIMEMultipart("alternative")
        message["Subject"] = Header(f"{labels['brand']} {notification['title']}", "utf-8")  # type: ignore[assignment]  # typeshed: str only; compat32 takes a Header
        sender_name, sender_address = parseaddr(sender)
        message["From"] = formataddr((sender_name, sender_address), charset="utf-8")
        message["To"] = formataddr((to_name, to_address), charset="utf-8") if to_name else to_address
        message["Date"] = format_datetime(notification["created_at"])
        # Stable across retries, so a mail client shows a message delivered twice once.
        message["Message-ID"] = f"<{notification['notification_id']}@dongui.notifier>"
        message["Content-Language"] = language
        message["X-Dongui-Notification-Id"] = str(notification["notification_id"])
        message["X-Dongui-Kind"] = kind.value
        message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies, please
        message.attach(MIMEText(self._text_email.render(context), "plain", "utf-8"))
        message.attach(MIMEText(self._html_email.render(context), "html", "utf-8"))
        return message


    def sms(self, notification: dict[str, Any], link: str) -> str:
        """A requester's text message: short, the subject line (which holds the reference and what
        happened) and the private link."""
        return f"{self.labels(notification['language'])['brand']} {notification['title']} {link}"
