"""HTTP bodies of the breach register: the commands (record, update, people told, regulator
reported, close), the views, and the drafts."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema, field_validator, model_validator

from shared.dates import Timestamp
from shared.events import Language, SubjectId
from shared.rules import breaches as rules


def _one_of(name: str, known: tuple[str, ...] | dict[str, Any]) -> AfterValidator:
    """A code of one of the rules' lists, refused by name otherwise."""
    values = list(known)

    def check(value: str) -> str:
        if value not in values:
            raise ValueError(f"unknown {name} '{value}'; one of: {', '.join(values)}")
        return value

    return AfterValidator(check)


def _enum(known: tuple[str, ...] | dict[str, Any]) -> WithJsonSchema:
    """The codes as an enum in the OpenAPI document."""
    return WithJsonSchema({"type": "string", "enum": list(known)})


DataCategoryId = Annotated[str, _one_of("data category", rules.DATA_CATEGORIES), _enum(rules.DATA_CATEGORIES)]
CauseId = Annotated[str, _one_of("cause", rules.CAUSES), _enum(rules.CAUSES)]
MeasureId = Annotated[str, _one_of("measure", rules.MEASURES), _enum(rules.MEASURES)]
ChannelId = Annotated[str, _one_of("channel", rules.CHANNELS), _enum(rules.CHANNELS)]
Regulator = Literal["PIPC", "KISA"]
Outstanding = Literal["people", "regulator"]
Text = Annotated[str, Field(min_length=1, max_length=4000)]
#: The most people a breach may count (and be told), far above any clinic's: a bound, not a rule.
MAX_PEOPLE = 100_000_000


def distinct(values: list[str] | None) -> list[str] | None:
    """A list validator: each value once."""
    if values is not None and len(set(values)) != len(values):
        raise ValueError("a value is listed twice")
    return values


class BreachFacts(BaseModel):
    """What is known of a leak; every field may be corrected later (``PATCH``)."""

    model_config = ConfigDict(extra="forbid")
    description: Text = Field(description="What happened, as far as known. Kept sealed: it may name people; it is "
                                          "shown to staff and in the regulator's report, never in an event.")
    occurred_at: Timestamp | None = Field(default=None, description="When the leak happened; null: not known (yet).")
    discovered_at: Timestamp = Field(description="When the clinic learned of it: the 72-hour clock starts here.")
    subject_ids: list[SubjectId] = Field(
        default_factory=list, max_length=100_000,
        description="The people affected, by the clinic's ids, as far as known (kept sealed).")
    subject_count: int | None = Field(
        default=None, ge=1, le=MAX_PEOPLE,
        description="How many people are affected; at least the ids listed. Absent: the number of ids listed, "
                    "or unknown when none is.")
    data_categories: list[DataCategoryId] = Field(min_length=1, max_length=len(rules.DATA_CATEGORIES))
    sensitive: bool | None = Field(
        default=None, description="Sensitive information leaked (PIPA 23). Absent: as the categories say (health, "
                                  "photos, biometric data); true adds it for 'other' data; false cannot undo a category.")
    unique_identifiers: bool | None = Field(
        default=None, description="Unique identifying information leaked (PIPA 24: resident registration, passport, "
                                  "driver's licence, alien registration numbers). Absent: as the categories say.")
    cause: CauseId = Field(default="unknown", description="How it came about; external_access is unlawful access "
                                                          "from outside (hacking), which the regulator must be told of.")
    cause_detail: str | None = Field(default=None, max_length=4000, description="More about the cause (sealed).")
    measures: list[MeasureId] = Field(default_factory=list, max_length=len(rules.MEASURES),
                                      description="What the clinic did or does about it.")
    measures_detail: str | None = Field(default=None, max_length=4000, description="More about the measures (sealed).")

    _distinct_values = field_validator("data_categories", "measures", "subject_ids")(distinct)


class RecordBreach(BreachFacts):
    """Record a suspected leak (staff and the privacy manager): its 72-hour clock starts at
    ``discovered_at``."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "description": "A nightly export of the membership list was left readable on the website's file server.",
        "occurred_at": "2026-03-03T00:00:00+09:00", "discovered_at": "2026-03-04T10:30:00+09:00",
        "subject_count": 1240, "data_categories": ["name", "contact", "health"], "cause": "system_error",
        "measures": ["access_blocked", "investigating"],
    }]})


class UpdateBreach(BaseModel):
    """Correct or complete what is known (staff and the privacy manager): only the fields sent
    change; a null ``occurred_at`` or ``subject_count`` means "not known"."""

    model_config = ConfigDict(extra="forbid")
    description: Text | None = None
    occurred_at: Timestamp | None = None
    discovered_at: Timestamp | None = Field(default=None, description="Corrected: the clock moves with it.")
    subject_ids: list[SubjectId] | None = Field(default=None, max_length=100_000)
    subject_count: int | None = Field(default=None, ge=1, le=MAX_PEOPLE)
    data_categories: list[DataCategoryId] | None = Field(default=None, min_length=1,
                                                         max_length=len(rules.DATA_CATEGORIES))
    sensitive: bool | None = None
    unique_identifiers: bool | None = None
    cause: CauseId | None = None
    cause_detail: str | None = Field(default=None, max_length=4000)
    measures: list[MeasureId] | None = Field(default=None, max_length=len(rules.MEASURES))
    measures_detail: str | None = Field(default=None, max_length=4000)

    _distinct_values = field_validator("data_categories", "measures", "subject_ids")(distinct)

    @field_validator("description", "discovered_at", "data_categories", "cause", "measures", "subject_ids")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        # Runs only for a field that was sent: leaving one out keeps it, null cannot.
        if value is None:
            raise ValueError("cannot be null; leave it out to keep what is recorded")
        return value

    @model_validator(mode="after")
    def _something(self) -> UpdateBreach:
        if not self.model_fields_set:
            raise ValueError("nothing to change: send at least one field")
        return self


class RecordPeopleNotified(BaseModel):
    """The privacy manager records that people affected were told (once per mailing; the people
    count as told once as many were told as are affected)."""

    model_config = ConfigDict(extra="forbid")
    notified_at: Timestamp = Field(description="When they were told.")
    count: int = Field(ge=1, le=MAX_PEOPLE, description="How many people were told this time.")
    channels: list[ChannelId] = Field(min_length=1, max_length=len(rules.CHANNELS))

    _distinct_channels = field_validator("channels")(distinct)


class RecordRegulatorReport(BaseModel):
    """The privacy manager records the report to the regulator (a follow-up report too)."""

    model_config = ConfigDict(extra="forbid")
    reported_at: Timestamp
    regulator: Regulator = Field(description="PIPC (the Personal Information Protection Commission) or KISA.")
    reference: str | None = Field(default=None, min_length=1, max_length=200,
                                  description="The regulator's reference for the report, when it gave one.")


class CloseBreach(BaseModel):
    """The privacy manager closes a breach: handled (everyone who must be told was), or not a
    leak after all (the clock stops)."""

    model_config = ConfigDict(extra="forbid")
    outcome: Literal["handled", "not_a_breach"]
    reason: str = Field(min_length=1, max_length=2000, description="Why (kept sealed).")


# --- views ------------------------------------------------------------------------------------------


class RegulatorDecision(BaseModel):
    required: bool = Field(description="The regulator must be told within the 72 hours.")
    reasons: list[Literal["people", "sensitive", "unique_identifiers", "external_access"]]
    explanation: str = Field(description="Why, or why not, in a sentence.")


class Clock(BaseModel):
    notify_by: datetime
    seconds_left: int = Field(description="Until notify_by; negative once it has passed.")
    overdue: bool = Field(description="notify_by passed with someone still to be told.")
    outstanding: list[Outstanding] = Field(description="Who is still to be told (empty once closed).")
    notices: list[str] = Field(description="Reminders sent to the privacy manager: 24h, 48h, 72h.")


class PeopleToldOut(BaseModel):
    notified_at: datetime
    count: int
    channels: list[str]
    recorded_by: str
    recorded_at: datetime


class RegulatorReportOut(BaseModel):
    reported_at: datetime
    regulator: Regulator
    reference: str | None
    recorded_by: str
    recorded_at: datetime


class AuditEntry(BaseModel):
    at: datetime
    actor: str
    action: str
    detail: str | None
    said: dict[str, Any] | None = Field(default=None, description=(
        "The detail as recorded to be read in any language (a key of the message catalogue and its values)."))


class BreachOut(BaseModel):
    """A breach as staff see it: its facts (the sealed ones opened), clock, disclosures, audit."""

    breach_id: str
    reference: str
    status: Literal["open", "closed"]
    description: str
    occurred_at: datetime | None
    discovered_at: datetime
    notify_by: datetime
    subject_ids: list[str]
    subject_count: int | None
    data_categories: list[str]
    sensitive: bool
    unique_identifiers: bool
    cause: str
    external_access: bool
    cause_detail: str | None
    measures: list[str]
    measures_detail: str | None
    regulator: RegulatorDecision
    people_told: int = Field(description="How many people were told so far.")
    people_notifications: list[PeopleToldOut]
    regulator_reports: list[RegulatorReportOut]
    clock: Clock
    recorded_by: str
    recorded_at: datetime
    updated_at: datetime
    outcome: Literal["handled", "not_a_breach"] | None
    closed_by: str | None
    closed_at: datetime | None
    close_reason: str | None
    audit: list[AuditEntry]


class BreachSummary(BaseModel):
    """A breach in the register's list (no personal data)."""

    breach_id: str
    reference: str
    status: Literal["open", "closed"]
    discovered_at: datetime
    notify_by: datetime
    subject_count: int | None
    data_categories: list[str]
    regulator_required: bool
    people_told: int
    outstanding: list[Outstanding]
    overdue: bool


class DraftSection(BaseModel):
    heading: str
    text: str


class NoticeDraft(BaseModel):
    """The draft notice to the people affected (PIPA 34(1)), in one language: read it, adjust it,
    send it, then record that they were told."""

    breach_id: str
    reference: str
    language: Language
    title: str
    sections: list[DraftSection]
    text: str = Field(description="The whole notice as plain text.")


class ReportField(BaseModel):
    name: str
    label: str
    value: str


class ReportDraft(BaseModel):
    """The fields of the report to the regulator (Decree Art. 40), in one language."""

    breach_id: str
    reference: str
    language: Language
    regulator_required: bool
    title: str
    fields: list[ReportField]
    text: str = Field(description="The report as plain text, a field per paragraph.")
