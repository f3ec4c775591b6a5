"""``GET /v1/destructions``: the destruction log, for the privacy manager, as JSON or as CSV
(``Accept: text/csv``) for an inspection; ``POST /v1/subjects/{id}/records``: a clinic system
reports what it holds of a subject, which starts the retention clock."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response

from services.dsr import errors
from services.dsr import store as dsr_store
from services.dsr.api import ERRORS, _pool, _service, manager_only
from services.dsr.destruction import log, store
from services.dsr.destruction.schemas import ReportRecords, SubjectClocks
from shared.auth import Principal, require
from shared.events import SUBJECT_ID_MAX_LENGTH, SUBJECT_ID_PATTERN
from shared.settings import Role

router = APIRouter(prefix="/v1/destructions", tags=["destructions"])
records_router = APIRouter(prefix="/v1/subjects", tags=["destructions"])

SubjectPath = Annotated[str, Path(min_length=1, max_length=SUBJECT_ID_MAX_LENGTH, pattern=SUBJECT_ID_PATTERN)]

#: The most rows one call returns (newest first); narrow with ``since`` or ``subject_id``.
LIMIT = 10_000


@router.get("", response_model=list[log.DestructionRow], responses={
    **ERRORS, 200: {"content": {"application/json": {}, "text/csv": {"schema": {"type": "string"}}}}})
async def destruction_log(request: Request, subject_id: str | None = Query(default=None, max_length=128),
                          since: datetime | None = Query(default=None, description="Created at or after"),
                          _: Principal = Depends(manager_only)) -> list[log.DestructionRow] | Response:
    """The destruction log, newest first: one row per destruction and system — what went, by which
    rule, what was kept and why, when the system was asked, when and how it confirmed. Never the
    data itself. ``Accept: text/csv`` gives it as CSV for an inspection."""
    async with _pool(request).acquire() as conn:
        records = await store.log(conn, subject_id=subject_id, since=since, limit=LIMIT)
    rows = log.rows(records, _service(request).clock())
    if "text/csv" in request.headers.get("accept", ""):
        return log.csv_response(rows, _service(request).clock())
    return rows


@records_router.post("/{subject_id}/records", response_model=SubjectClocks, responses=ERRORS)
async def report_records(subject_id: SubjectPath, body: ReportRecords, request: Request,
                         who: Principal = Depends(require(Role.system))) -> SubjectClocks:
    """A clinic system reports the records it holds of a subject, by retention class with a legal
    period, and the day each period counts from (the latest record: a visit, an access). The
    subject's clock for the class counts from the latest day any system reported; when the period
    ends, the class is destroyed in every system holding it (``dsr.task.destroy``, trigger
    ``retention_expired``). A day earlier than the clock's changes nothing. A system reports only
    the classes it registered."""
    assert who.system_id is not None, "a system key names its system"
    async with _pool(request).acquire() as conn, conn.transaction():
        system = await dsr_store.system(conn, who.system_id)
        declared = set(system["retention_classes"]) if system is not None else set()
        undeclared = sorted({r.retention_class for r in body.records} - declared)
        if undeclared:
            raise errors.UndeclaredRetentionClass(
                f"System '{who.system_id}' did not register the class(es) {', '.join(undeclared)}; the privacy manager "
                f"registers what a system holds (POST /v1/systems).")
        clocks = await _service(request).destructions.report(
            conn, system_id=who.system_id, subject_id=subject_id,
            records=[(r.retention_class, r.recorded_on) for r in body.records])
    return SubjectClocks(subject_id=subject_id, clocks=clocks)
