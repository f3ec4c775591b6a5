"""HTTP endpoints of the provision log (``services/dsr/provisions.py``): staff record a provision a
law required; staff and the privacy manager read the log."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Query, Request

from services.dsr.api import ERRORS, _pool, _service, staff_only
from services.dsr.provision_schemas import ProvisionOut, RecordProvision
from shared.auth import Principal

router = APIRouter(prefix="/v1/provisions", tags=["provisions"])


@router.post("", status_code=201, response_model=ProvisionOut, responses=ERRORS)
async def record_provision(body: RecordProvision, request: Request,
                           who: Principal = Depends(staff_only)) -> ProvisionOut:
    """Record that the clinic provided a person's data to a third party because a law required it
    (``ground``: the health insurance claims, a court's warrant, infectious-disease control), without
    their consent. The log is append-only; the person reads it in their access report, in their
    language, with the law that required each provision."""
    async with _pool(request).acquire() as conn:
        return await _service(request).provisions.record(conn, body, by=f"{who.role.value}:{who.name}")


@router.get("", response_model=list[ProvisionOut], responses=ERRORS)
async def list_provisions(request: Request, subject_id: str | None = Query(default=None, max_length=128),
                          since: datetime | None = Query(default=None, description="Provided at or after"),
                          _: Principal = Depends(staff_only)) -> list[ProvisionOut]:
    """The provision log, newest first: all of it, a subject's, or since a moment."""
    async with _pool(request).acquire() as conn:
        return await _service(request).provisions.log(conn, subject_id=subject_id, since=since)
