"""``python -m services.notifier``: the inbox API (and, unless NOTIFIER_RUN_WORKERS=false, its
consumers, the delivery worker and the daily digest)."""

from services.notifier.app import build_app
from services.notifier.settings import NotifierSettings
from shared.runtime import serve

if __name__ == "__main__":
    serve(build_app, NotifierSettings())
