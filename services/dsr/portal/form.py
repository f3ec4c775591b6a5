"""The portal's form: what the person typed, checked in their language, turned into an
:class:`OpenRequest` (the same command the JSON API takes). The browser script runs the same
checks as the person types; these are the ones that count."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from pydantic import ValidationError

from services.dsr import domain
from services.dsr.portal.messages import PURPOSES, RESIDENCES, TYPES, WHO, t
from services.dsr.schemas import OpenRequest
from shared.events import SUBJECT_ID_MAX_LENGTH, SUBJECT_ID_PATTERN

#: The corrections one rectification may list on the form: the first, and as many more rows (the
#: API takes 50; a person with more writes them in one or files again).
CORRECTION_ROWS = ("", "_2", "_3")
CORRECTION_FIELDS = tuple(f"correction_{part}{row}" for row in CORRECTION_ROWS for part in ("item", "current", "corrected"))
FIELDS = ("type", "who", "residence", "requester_name", "relationship_detail", "name", "birth_date",
          "subject_id", "contact", *CORRECTION_FIELDS, "objects_to", "complaint", "purposes")
LIMITS = {"requester_name": 200, "relationship_detail": 100, "name": 200, "contact": 200,
          "subject_id": SUBJECT_ID_MAX_LENGTH, "objects_to": 100, "complaint": 4000,
          **{f"correction_item{row}": 200 for row in CORRECTION_ROWS},
          **{f"correction_current{row}": 2000 for row in CORRECTION_ROWS},
          **{f"correction_corrected{row}": 2000 for row in CORRECTION_ROWS}}
SUBJECT_ID = re.compile(SUBJECT_ID_PATTERN)
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DAY_MONTH_YEAR = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

#: Where an error of the JSON command (pydantic loc or Problem field) is shown on the form.
FIELD_OF = {
    "type": "type", "residence": "residence", "requester.relationship": "who",
    "subject.name": "name", "subject.birth_date": "birth_date", "subject.subject_id": "subject_id",
    "subject.contact": "contact", "requester.contact": "contact", "requester.name": "requester_name",
    "requester.relationship_detail": "relationship_detail", "details.objects_to": "objects_to",
    "details.purposes": "purposes", "details.corrections": "correction_corrected",
    "details.complaint": "complaint",
}


@dataclass
class PortalForm:
    values: dict[str, Any]
    lang: str
    #: The clinic's law: its ages and deadlines apply, whatever the person's residence.
    law: str
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_form(cls, form: Any, lang: str, law: str) -> PortalForm:
        values: dict[str, Any] = {name: (form.get(name) or "").strip() for name in FIELDS if name != "purposes"}
        values["purposes"] = [p for p in form.getlist("purposes") if p in PURPOSES]
        values["residence"] = values["residence"] or law
        return cls(values, lang, law)

    @property
    def for_someone_else(self) -> bool:
        return self.values["who"] in ("legal_representative", "agent")

    def day(self, raw: str) -> date:
        """A date as the page's language writes it: year-month-day, or in Vietnamese also
        day/month/year as Vietnamese parents write it (05/05/2016). ValueError when it is neither."""
        if DATE.match(raw):
            return date.fromisoformat(raw)
        if self.lang == "vi" and (dmy := DAY_MONTH_YEAR.match(raw)):
            return date(int(dmy[3]), int(dmy[2]), int(dmy[1]))
        raise ValueError(raw)

    def error(self, name: str, key: str, **kw: Any) -> None:
        self.errors.setdefault(name, t(self.lang, key, **kw))

    def check(self, today: date) -> date | None:
        """Check every field in the person's language; returns the birth date when it is valid."""
        v = self.values
        if v["type"] not in TYPES:
            self.error("type", "err.choose")
        if v["who"] not in WHO:
            self.error("who", "err.choose")
        if v["residence"] not in RESIDENCES:
            self.error("residence", "err.choose")
        required = ["name", "birth_date", "contact"]
        if self.for_someone_else:
            required.append("requester_name")
        if v["who"] == "legal_representative":
            required.append("relationship_detail")
        if v["type"] == "rectification":
            required += ["correction_item", "correction_corrected"]
            for row in CORRECTION_ROWS[1:]:  # a further row, once begun, needs its item and its correction
                if v[f"correction_item{row}"] or v[f"correction_current{row}"] or v[f"correction_corrected{row}"]:
                    required += [f"correction_item{row}", f"correction_corrected{row}"]
        if v["type"] == "objection":
            required.append("objects_to")
        if v["type"] == "complaint":
            required.append("complaint")
        for name in required:
            if not v[name]:
                self.error(name, "err.required")
        for name, limit in LIMITS.items():
            if len(v[name]) > limit:
                self.error(name, "err.too_long", max=limit)
        if v["subject_id"] and not SUBJECT_ID.match(v["subject_id"]):
            self.error("subject_id", "err.subject_id")
        if v["contact"] and not (EMAIL.match(v["contact"]) or len(re.sub(r"\D", "", v["contact"])) >= 7):
            self.error("contact", "err.contact")
        born = None
        if v["birth_date"]:
            try:
                born = self.day(v["birth_date"])
            except ValueError:
                self.error("birth_date", "err.date_format")
            else:
                v["birth_date"] = born.isoformat()  # the command's form, whatever the person wrote
                if born > today:
                    self.error("birth_date", "err.date_future")
                elif born.year < 1900:
                    self.error("birth_date", "err.date_old")
        if born and v["who"] == "agent" and domain.is_minor(self.law, born, today):
            self.error("who", "err.agent_for_child", age=domain.MINOR_BELOW[self.law])
        return born

    def command(self) -> OpenRequest | None:
        """The JSON command, with only what this request needs; None (and errors) when invalid."""
        v = self.values
        requester: dict[str, Any] = {"relationship": v["who"], "contact": v["contact"]}
        if self.for_someone_else:
            requester["name"] = v["requester_name"]
            requester["relationship_detail"] = v["relationship_detail"] or None
        details: dict[str, Any] = {}
        if v["type"] == "rectification":
            details["corrections"] = [
                {"item": v[f"correction_item{row}"], "current": v[f"correction_current{row}"] or None,
                 "corrected": v[f"correction_corrected{row}"]}
                for row in CORRECTION_ROWS if v[f"correction_item{row}"] or v[f"correction_corrected{row}"]]
        if v["type"] == "objection":
            details["objects_to"] = v["objects_to"]
        if v["type"] == "consent_withdrawal" and v["purposes"]:
            details["purposes"] = v["purposes"]
        if v["type"] == "complaint":
            details["complaint"] = v["complaint"]
        body = {
            "type": v["type"], "residence": v["residence"] if v["residence"] != "other" else None,
            "language": self.lang,
            "subject": {"name": v["name"], "birth_date": v["birth_date"], "subject_id": v["subject_id"] or None},
            "requester": requester, "details": details,
        }
        try:
            return OpenRequest.model_validate(body)
        except ValidationError as exc:
            for err in exc.errors():
                self.field_error(".".join(str(p) for p in err.get("loc", ()) if not isinstance(p, int)),
                                 err.get("msg", ""))
            if not self.errors:
                self.errors["type"] = t(self.lang, "err.invalid")
            return None

    def field_error(self, loc: str, message: str) -> None:
        """An error the model or the service reported, put next to the field it is about."""
        name = FIELD_OF.get(loc)
        if name is None:  # a rule across fields (model validator): find the field it names
            name = next((f for key, f in FIELD_OF.items() if key in message), "type")
        known = {
            "unknown request": "err.objects_to_unknown", "not a refusal or an extension": "err.objects_to_not_rejected",
            "in the future": "err.date_future",
        }
        if message in known:
            self.error(name, known[message])
        elif name == "who" and "legal representative" in message:
            # The service refused an agent for a minor, by the clinic's law's age.
            self.error(name, "err.agent_for_child", age=domain.MINOR_BELOW[self.law])
        elif "required" in message or "needed" in message:
            self.error(name, "err.required")
        else:
            self.error(name, "err.invalid")
