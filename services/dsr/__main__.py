"""``python -m services.dsr``: the API (and, unless DSR_RUN_WORKERS=false, its workers)."""

import uvicorn

from services.dsr.app import build_app
from services.dsr.settings import DsrSettings
from shared.observability import configure_logging


def main() -> None:
    settings = DsrSettings()
    configure_logging("dsr", settings.log_level)
    uvicorn.run(build_app(settings), host=settings.host, port=settings.port, log_config=None,
                timeout_graceful_shutdown=10)


if __name__ == "__main__":
    main()
