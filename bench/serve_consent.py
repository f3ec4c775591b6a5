"""``python -m bench.serve_consent``: the consent service exactly as ``python -m services.consent``
runs it (same ``shared.runtime.serve``: one uvicorn process, same middleware, workers on), plus
two ceiling endpoints that do no database work, for the benchmarks to compare against:

* ``GET /bench/hello``: authenticates the key like every endpoint and answers a constant.
* ``POST /bench/consent-events``: authenticates, validates the same CloudEvent body with the same
  model and parser as ``POST /v1/consent-events``, and answers without touching the database.

Both go through the same middleware stack (request ids, metrics, the access log line, body size
limit, problem details) and the same dependency injection as the real endpoints, so the ratio
"real / ceiling" is the cost of the database work and the rules, on whatever machine.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, FastAPI, Request

from services.consent.app import build_app
from services.consent.schemas import ConsentCloudEvent
from services.consent.settings import ConsentSettings
from shared import bodies
from shared.auth import Principal, require
from shared.runtime import serve
from shared.settings import Role

ceiling = APIRouter(prefix="/bench", tags=["benchmark ceilings"])


@ceiling.get("/hello")
async def hello(_: Principal = Depends(require(Role.system, Role.staff, Role.privacy_manager))) -> dict[str, bool]:
    return {"allowed": True}


@ceiling.post("/consent-events", status_code=201)
async def consent_event_without_database(
    request: Request, _: Principal = Depends(require(Role.system))
) -> dict[str, str]:
    event = await bodies.read_json(request, ConsentCloudEvent)
    return {"event_id": event.id, "subject_id": event.data.subject_id}


def build_with_ceilings(settings: ConsentSettings) -> FastAPI:
    app = build_app(settings)
    app.include_router(ceiling)
    return app


if __name__ == "__main__":
    serve(build_with_ceilings, ConsentSettings())
