"""``python -m services.consent``: the API (and, unless CONSENT_RUN_WORKERS=false, its workers)."""

from services.consent.app import build_app
from services.consent.settings import ConsentSettings
from shared.runtime import serve

if __name__ == "__main__":
    serve(build_app, ConsentSettings())
