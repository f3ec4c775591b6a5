"""The dashboard's pages, one module per area, under ``/dashboard``; and how they join the app."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from starlette.staticfiles import StaticFiles

from services.dsr.dashboard.frame import HERE, SECURITY_HEADERS, Refusal, lifespan
from services.dsr.dashboard.routes import (
    breaches,
    destructions,
    inbox,
    policies,
    requests,
    signin,
    subjects,
    systems,
)
from services.dsr.web.headers import SecurityHeaders

router = APIRouter(prefix="/dashboard", include_in_schema=False, lifespan=lifespan)
for area in (signin, requests, subjects, policies, inbox, systems, breaches, destructions):
    router.include_router(area.router)


def install_dashboard(app: FastAPI) -> None:
    """Routes, static files, headers and refusals of the dashboard; its state lives for the app's lifespan."""
    app.include_router(router)
    app.mount("/dashboard/static", StaticFiles(directory=HERE / "static"), name="dashboard-static")
    app.add_middleware(SecurityHeaders, prefix="/dashboard", headers=SECURITY_HEADERS)

    @app.exception_handler(Refusal)
    async def _refused(request: Request, exc: Refusal) -> Response:
        return exc.response
