"""The request service's objects as FastAPI dependencies, for the portal and the dashboard.

The app's lifespan puts them on ``app.state`` (``services/dsr/app.py``); pages ask for them here,
so a test swaps one with ``app.dependency_overrides[get_service] = ...`` instead of changing the
app's state.
"""

from __future__ import annotations

from typing import Annotated

import asyncpg
from fastapi import Depends, Request

from services.dsr.api import IntakeLimiter
from services.dsr.consent_client import ConsentClient
from services.dsr.service import RequestService


def get_pool(request: Request) -> asyncpg.Pool:
    return request.app.state.runtime.pool


def get_service(request: Request) -> RequestService:
    return request.app.state.dsr


def get_consent_client(request: Request) -> ConsentClient:
    """The service's own client of the consent service (consent history for a result)."""
    return request.app.state.consent_client


def get_intake_limiter(request: Request) -> IntakeLimiter:
    """The public intake's per-address limit, shared with ``POST /v1/requests``."""
    return request.app.state.intake_limiter


Pool = Annotated[asyncpg.Pool, Depends(get_pool)]
Service = Annotated[RequestService, Depends(get_service)]
Consent = Annotated[ConsentClient, Depends(get_consent_client)]
Limiter = Annotated[IntakeLimiter, Depends(get_intake_limiter)]
