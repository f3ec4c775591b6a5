"""``GET /v1/destructions``: the destruction log, for the privacy manager, as JSON or as CSV
(``Accept: text/csv``) for an inspection."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from services.dsr.api import ERRORS, _pool, _service, manager_only
from services.dsr.destruction import log, store
from shared.auth import Principal

router = APIRouter(prefix="/v1/destructions", tags=["destructions"])

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
        stamp = _service(request).clock().strftime("%Y%m%d")
        return Response(log.to_csv(rows), media_type="text/csv; charset=utf-8", headers={
            "Content-Disposition": f'attachment; filename="destructions-{stamp}.csv"', "Cache-Control": "no-store"})
    return rows
