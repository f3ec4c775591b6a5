"""`KAFKA=apache make run`: the whole development stack on Apache Kafka, stopped by Ctrl-C.

The stack runs as `make run` runs it (``python -m deploy.devstack``), on ports and in a data folder
of this test's own (``DONGUI_DEV_*``, ``<SERVICE>_PORT``), so that a developer's own stack on the
fixed ports is left alone.
"""

from __future__ import annotations

import asyncio
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
from aiokafka.admin import AIOKafkaAdminClient

from deploy.local_infra import HOST, accepts_tcp, free_port
from shared.events import Topic

REPO = Path(__file__).resolve().parents[2]
BANNER = "Dongui development stack is running"


async def _every_topic_made(bootstrap: str) -> None:
    """The services made their own topics: this broker creates none by itself."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        deadline = time.monotonic() + 60
        while not {t.value for t in Topic} <= set(await admin.list_topics()):
            assert time.monotonic() < deadline, await admin.list_topics()
            await asyncio.sleep(0.5)
    finally:
        await admin.close()


def _lines(stream, into: queue.Queue[str]) -> None:
    for line in iter(stream.readline, ""):
        into.put(line)
    into.put("")


def test_kafka_apache_make_run_starts_the_stack_on_apache_kafka_and_ctrl_c_stops_it(tmp_path: Path) -> None:
    ports = {name: free_port() for name in ("CONSENT_PORT", "DSR_PORT", "NOTIFIER_PORT", "DONGUI_DEV_PG_PORT",
                                            "DONGUI_DEV_KAFKA_PORT", "DONGUI_DEV_KAFKA_CONTROLLER_PORT")}
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS")}
    env.update({name: str(port) for name, port in ports.items()})
    env.update(KAFKA="apache", DONGUI_DEV_DATA_DIR=str(tmp_path / "data"), PYTHONUNBUFFERED="1")
    stack = subprocess.Popen([sys.executable, "-m", "deploy.devstack"], cwd=REPO, env=env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             start_new_session=True)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_lines, args=(stack.stdout, lines), daemon=True).start()
    said: list[str] = []
    try:
        deadline = time.monotonic() + 240
        def banner_shown() -> bool:  # the banner's line, and the rule that closes the banner after it
            starts = [i for i, line in enumerate(said) if BANNER in line]
            return bool(starts) and any(line.startswith("=" * 78) for line in said[starts[0]:])

        while not banner_shown():
            assert time.monotonic() < deadline, "no banner within 240 s:\n" + "".join(said[-40:])
            try:
                line = lines.get(timeout=1)
            except queue.Empty:
                continue
            assert line, "the stack exited before it was running:\n" + "".join(said[-40:])
            said.append(line)
        banner = "".join(said)
        bootstrap = f"{HOST}:{ports['DONGUI_DEV_KAFKA_PORT']}"
        assert f"Kafka       {bootstrap}  (embedded Apache Kafka" in banner
        assert (tmp_path / "data" / "kafka" / "node-1" / "logs" / "meta.properties").is_file()

        with httpx.Client(trust_env=False, timeout=10) as client:
            for service in ("CONSENT_PORT", "DSR_PORT", "NOTIFIER_PORT"):
                health = client.get(f"http://{HOST}:{ports[service]}/healthz").json()
                assert health["status"] == "ok" and health["checks"]["broker"] == "ok", health
        asyncio.run(_every_topic_made(bootstrap))

        # Ctrl-C in the terminal reaches the supervisor alone (its children have sessions of their own).
        stack.send_signal(signal.SIGINT)
        assert stack.wait(timeout=120) == 0
        for port in ports.values():
            assert not accepts_tcp(port), f"something still listens on {port}"
    finally:
        if stack.poll() is None:
            os.killpg(stack.pid, signal.SIGKILL)
            stack.wait()
