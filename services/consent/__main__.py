"""``python -m services.consent``: the API (and, unless CONSENT_RUN_WORKERS=false, its workers)."""

from fastapi import FastAPI

from services.consent.app import build_app
from services.consent.settings import ConsentSettings
from shared.runtime import serve
from shared.settings import ServiceSettings


def _build(settings: ServiceSettings) -> FastAPI:
    assert isinstance(settings, ConsentSettings)
    return build_app(settings)


if __name__ == "__main__":
    serve(_build, ConsentSettings())
