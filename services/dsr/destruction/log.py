"""The destruction log as an inspector reads it: one row per destruction and system — what went
(purposes, categories, classes), by which rule, what was kept and why, when the system was asked,
when and how it confirmed — as JSON or CSV. Never the data itself."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal

from fastapi.responses import Response
from pydantic import BaseModel, Field

from shared.events import KeptItem, RetainedItem

Status = Literal["confirmed", "waiting", "failed", "overdue", "closed_by_hand", "nothing_held"]


class DestructionRow(BaseModel):
    reference: str = Field(description="The destruction's reference (DST-…), as its tasks carry it.")
    destruction_id: str
    subject_id: str
    trigger: Literal["consent_withdrawal", "membership_withdrawal", "retention_expired"]
    purposes: list[str]
    categories: list[str] = Field(description="Data categories to destroy.")
    classes: list[str] = Field(description="Retention classes to destroy.")
    rule: str = Field(description="The rule that made the data go.")
    kept: list[KeptItem] = Field(description="What was left on purpose, and why.")
    created_at: datetime
    due_at: datetime
    overdue_at: datetime | None = Field(description="When the privacy manager was told it was overdue.")
    closed_at: datetime | None = Field(description="When every holding system had confirmed.")
    system_id: str | None = Field(description="Null: no system in service held it.")
    system_name: str | None
    processor: bool | None
    status: Status = Field(description=(
        "This system's part: confirmed, waiting, failed, overdue, closed_by_hand (the privacy manager settled it, "
        "the note says why); nothing_held: no system held it."))
    asked_at: datetime | None
    attempts: int | None
    outcome: Literal["done", "partially_done", "no_data", "failed"] | None
    destroyed: list[str] = Field(description="The categories the system confirmed it destroyed.")
    retained: list[RetainedItem] = Field(description="What the system kept, by law, and until when.")
    note: str | None = Field(description="The system's note with its confirmation.")
    confirmed_at: datetime | None


def _status(row: Any, now: datetime) -> Status:
    if row["system_id"] is None:
        return "nothing_held"
    if row["status"] == "answered":
        if row["closed_by"]:
            return "closed_by_hand"
        return "failed" if row["outcome"] == "failed" else "confirmed"
    return "overdue" if row["due_at"] < now else "waiting"


def rows(records: Iterable[Any], now: datetime) -> list[DestructionRow]:
    return [DestructionRow(
        reference=r["reference"], destruction_id=str(r["destruction_id"]), subject_id=r["subject_id"],
        trigger=r["trigger"], purposes=list(r["purposes"]), categories=list(r["categories"]),
        classes=list(r["classes"]), rule=r["rule"], kept=r["kept"], created_at=r["created_at"], due_at=r["due_at"],
        overdue_at=r["overdue_at"], closed_at=r["closed_at"], system_id=r["system_id"], system_name=r["system_name"],
        processor=r["processor"], status=_status(r, now), asked_at=r["sent_at"], attempts=r["attempts"],
        outcome=r["outcome"], destroyed=list(r["erased"] or []), retained=r["retained"] or [], note=r["note"],
        confirmed_at=r["answered_at"],
    ) for r in records]


COLUMNS = ("reference", "created_at", "subject_id", "trigger", "purposes", "categories", "classes", "rule", "kept",
           "system_id", "system_name", "processor", "asked_at", "attempts", "due_at", "status", "outcome",
           "destroyed", "retained", "note", "confirmed_at", "overdue_at", "closed_at", "destruction_id")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return "; ".join(_cell(v) for v in value)
    if isinstance(value, KeptItem):
        what = value.category or f"class {value.retention_class}"
        return f"{what}: {value.because} ({value.citation})"
    if isinstance(value, RetainedItem):
        return f"{value.category} ({value.retention_class}" + (f", until {value.until})" if value.until else ")")
    text = str(value)
    # A cell a spreadsheet would run as a formula is quoted as text (CSV injection, OWASP).
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def to_csv(log: list[DestructionRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for row in log:
        writer.writerow([_cell(getattr(row, name)) for name in COLUMNS])
    return out.getvalue()


def csv_response(log: list[DestructionRow], now: datetime) -> Response:
    """The log as a CSV download, as the API and the dashboard give it."""
    return Response(to_csv(log), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="destructions-{now:%Y%m%d}.csv"', "Cache-Control": "no-store"})
