"""``python -m services.consent``: the API (and, unless CONSENT_RUN_WORKERS=false, its workers)."""

import uvicorn

from services.consent.app import build_app
from services.consent.settings import ConsentSettings
from shared.observability import configure_logging


def main() -> None:
    settings = ConsentSettings()
    configure_logging("consent", settings.log_level)
    uvicorn.run(build_app(settings), host=settings.host, port=settings.port, log_config=None,
                timeout_graceful_shutdown=10)


if __name__ == "__main__":
    main()
