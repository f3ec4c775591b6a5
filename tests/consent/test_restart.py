"""The consent service as a real process: killed with -9 mid-stream, restarted, nothing lost."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import httpx

from deploy.local_infra import free_port
from tests.support import MANAGER, consent_event, consume, eventually, policy_body, produce, structured

REPO = Path(__file__).resolve().parents[2]


def start_service(database_url: str, bootstrap: str, port: int, log: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "DONGUI_ENVIRONMENT": "development",
        "CONSENT_PORT": str(port),
        "CONSENT_OUTBOX_POLL_INTERVAL": "0.2",
        "KAFKA_SESSION_TIMEOUT_MS": "2000",
        "KAFKA_HEARTBEAT_INTERVAL_MS": "500",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "services.consent"], cwd=REPO, env=env,
        stdout=log.open("ab"), stderr=subprocess.STDOUT,
    )


def wait_ready(port: int, process: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"service exited with {process.returncode}:\n{log.read_text()[-3000:]}"
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"service not healthy in {timeout}s:\n{log.read_text()[-3000:]}")


async def test_killing_the_service_mid_stream_loses_nothing_and_records_nothing_twice(
    database_url, kafka_bootstrap, tmp_path
):
    port = free_port()
    log = tmp_path / "consent.log"
    service = start_service(database_url, kafka_bootstrap, port, log)
    try:
        wait_ready(port, service, log)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            assert (await client.post("/v1/policies", json=policy_body(), headers=MANAGER)).status_code == 201
        events = [consent_event(subject_id=f"restart-{i % 50}", purpose=purpose)
                  for i, purpose in enumerate(["marketing_email", "marketing_sms", "membership", "cookies_analytics"] * 300)]
        await produce(kafka_bootstrap, "consent.inbound", [structured(e) for e in events[:600]])
        await eventually(lambda: _count(database_url, ">", 0), timeout=30)

        service.send_signal(signal.SIGKILL)  # mid-stream: some batches recorded, offsets maybe not committed
        service.wait()
        await produce(kafka_bootstrap, "consent.inbound", [structured(e) for e in events[600:]])
        # ... and every event again, as a clinic system retrying after a time-out would.
        await produce(kafka_bootstrap, "consent.inbound", [structured(e) for e in events[:100]])

        service = start_service(database_url, kafka_bootstrap, port, log)
        wait_ready(port, service, log)
        await eventually(lambda: _count(database_url, ">=", len(events)), timeout=60)
        conn = await asyncpg.connect(database_url)
        try:
            recorded = await conn.fetchval("SELECT count(*) FROM consent.consent_records")
            distinct = await conn.fetchval("SELECT count(DISTINCT event_id) FROM consent.consent_records")
            chains_ok = await conn.fetchval(
                "SELECT bool_and(last_sequence = (SELECT count(*) FROM consent.consent_records r "
                "WHERE r.subject_id = s.subject_id)) FROM consent.subjects s"
            )
        finally:
            await conn.close()
        assert recorded == distinct == len(events)
        assert chains_ok

        published = await consume(kafka_bootstrap, "consent.events", count=len(events) + 1, timeout=60)
        ids = {json.loads(m.value)["data"].get("source_event_id") for m in published}
        assert {e["id"] for e in events} <= ids  # at least once on the way out

        service.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises the signal so the exit status tells why.
        assert service.wait(timeout=30) in (0, -signal.SIGTERM)
        assert "Application shutdown complete" in log.read_text()  # the first run was killed: no such line
    finally:
        if service.poll() is None:
            service.kill()
            service.wait()


async def _count(database_url: str, op: str, n: int) -> bool:
    conn = await asyncpg.connect(database_url)
    try:
        count = await conn.fetchval("SELECT count(*) FROM consent.consent_records")
    finally:
        await conn.close()
    return count > n if op == ">" else count >= n
