"""``python -m services.dsr``: the API (and, unless DSR_RUN_WORKERS=false, its workers)."""

from services.dsr.app import build_app
from services.dsr.settings import DsrSettings
from shared.runtime import serve

if __name__ == "__main__":
    serve(build_app, DsrSettings())
