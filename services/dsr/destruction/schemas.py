"""HTTP bodies of the retention clock: what a clinic system reports it holds of a subject, and the
clocks that follow from it."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.dates import Day
from shared.rules.retention import RETENTION_CLASSES

#: The classes with a legal period (the others last until a withdrawal, which destroys them).
CLOCKED = sorted(c.id for c in RETENTION_CLASSES.values() if c.fixed)


class HeldRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")
    retention_class: str = Field(description=f"A class with a legal period: {', '.join(CLOCKED)}")
    recorded_on: Day = Field(description=(
        "The day its period counts from, in the clinic's calendar: the latest record of the class "
        "(the last visit for the patient roster, the access for an access log, the issue date for a "
        "prescription)."))

    @field_validator("retention_class")
    @classmethod
    def _clocked(cls, value: str) -> str:
        if value not in RETENTION_CLASSES:
            raise ValueError(f"unknown retention class; known: {', '.join(sorted(RETENTION_CLASSES))}")
        if not RETENTION_CLASSES[value].fixed:
            raise ValueError(f"'{value}' lasts {RETENTION_CLASSES[value].citation.split(': ', 1)[-1]}: it has no "
                             f"period to count; its withdrawal destroys it")
        return value


class ReportRecords(BaseModel):
    """What a clinic system holds of a subject, by retention class, and since when."""

    model_config = ConfigDict(extra="forbid")
    records: list[HeldRecord] = Field(min_length=1, max_length=50)


class ClockOut(BaseModel):
    retention_class: str
    starts_on: date
    ends_on: date = Field(description="The first day the class may no longer be kept: its destruction is due.")
    citation: str
    reported_by: str = Field(description="The system that reported the latest record.")
    expired_at: datetime | None = Field(description="When its destruction was recorded; null while the period runs.")


class SubjectClocks(BaseModel):
    subject_id: str
    clocks: list[ClockOut]
