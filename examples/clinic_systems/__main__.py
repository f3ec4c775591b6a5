"""``python -m examples.clinic_systems``: the example EMR, website and CRM in one process.

Environment (besides the Kafka and DSR settings read by ``system.Settings``):
``EXAMPLE_SYSTEMS`` which systems run (comma-separated; default all), ``EXAMPLE_SILENT_SYSTEMS``
which of them register but never answer, ``EXAMPLE_LOG_LEVEL`` (default INFO).
SIGTERM or SIGINT stops it cleanly (exit 0).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys

from examples.clinic_systems.sample_data import SYSTEMS, load_sample_systems
from examples.clinic_systems.system import ClinicSystem, Settings
from shared.observability import configure_logging

log = logging.getLogger("examples.clinic_systems")


def _ids(variable: str, default: list[str]) -> list[str]:
    raw = os.environ.get(variable)
    if raw is None or not raw.strip():
        return default
    ids = [part.strip() for part in raw.split(",") if part.strip()]
    unknown = [i for i in ids if i not in SYSTEMS]
    if unknown:
        raise ValueError(f"{variable}: unknown systems {unknown}; known: {', '.join(SYSTEMS)}")
    return ids


async def serve(systems: list[ClinicSystem]) -> int:
    """Run until SIGTERM/SIGINT (0) or until a system stops on its own (1)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    running = [asyncio.create_task(s.run(), name=s.system_id) for s in systems]
    stopper = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([*running, stopper], return_when=asyncio.FIRST_COMPLETED)
    for task in [*running, stopper]:
        task.cancel()
    await asyncio.gather(*running, stopper, return_exceptions=True)
    # A system never ends by itself: if one did (an error, or a cancellation nobody asked for),
    # exit 1 so that whatever supervises the process starts it again.
    failed = [t for t in done if t is not stopper]
    for task in failed:
        reason = "cancelled" if task.cancelled() else repr(task.exception())
        log.error("system %s stopped: %s", task.get_name(), reason)
    log.info("stopped")
    return 1 if failed else 0


def main() -> int:
    configure_logging("examples", os.environ.get("EXAMPLE_LOG_LEVEL", "INFO"))
    try:
        settings = Settings.from_env()
        chosen = _ids("EXAMPLE_SYSTEMS", list(SYSTEMS))
        silent = set(_ids("EXAMPLE_SILENT_SYSTEMS", []))
    except ValueError as exc:
        log.error("cannot start: %s", exc)
        return 2
    stores = load_sample_systems(chosen)
    systems = [ClinicSystem(stores[i], settings, silent=i in silent) for i in chosen]
    log.info(
        "example clinic systems %s starting (broker %s, request service %s%s)",
        ", ".join(chosen), settings.kafka_bootstrap_servers, settings.dsr_url,
        f"; silent: {', '.join(sorted(silent))}" if silent else "",
    )
    return asyncio.run(serve(systems))


if __name__ == "__main__":
    sys.exit(main())
