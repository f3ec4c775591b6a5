"""The three services over real HTTP (uvicorn) on one throwaway database and one Tansu broker, for
the hostile-input tests.

The services run in a thread with its own event loop, so that the fuzzers (schemathesis and
Hypothesis, which call synchronously) can drive them from the test's thread. The stack is started
once per module and seeded with a few real resources (a policy, a consent record, requests with
their tokens, a task, a notification), so fuzzed calls reach past "not found" into the handlers.

How hard to fuzz: ``DONGUI_FUZZ_EXAMPLES`` (examples per operation and mode; small in ``make
test``, large in ``make fuzz``). Runs are derandomized (the same examples every run) unless
``DONGUI_FUZZ_SEED`` is set, and Hypothesis' example database is off.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from deploy.local_infra import free_port, run_psql
from services.consent.app import build_app as build_consent
from services.dsr.app import build_app as build_dsr
from services.dsr.dashboard.accounts import create_account
from services.notifier.app import build_app as build_notifier
from tests.conftest import KafkaBroker
from tests.consent.conftest import consent_settings
from tests.dsr.conftest import dsr_settings
from tests.dsr.factories import request_body
from tests.notifier.conftest import notifier_settings
from tests.support import MANAGER, STAFF, SYSTEM, Served, consent_event, policy_body, random_id

#: Examples per operation and generation mode (positive, negative).
EXAMPLES = int(os.environ.get("DONGUI_FUZZ_EXAMPLES", "10"))
#: None: derandomized (the same examples every run); a number: a seeded random run.
SEED = int(os.environ["DONGUI_FUZZ_SEED"]) if os.environ.get("DONGUI_FUZZ_SEED") else None
STAFF_USER, STAFF_PASSWORD = "fuzz-staff", "fuzz-staff-password-1"
MANAGER_USER, MANAGER_PASSWORD = "fuzz-manager", "fuzz-manager-password-1"


def hypothesis_settings(**overrides: Any):
    """The same Hypothesis settings for every fuzzer: no database, no deadline, reproducible."""
    from hypothesis import HealthCheck, settings

    values: dict[str, Any] = dict(
        max_examples=EXAMPLES, deadline=None, database=None, derandomize=SEED is None, print_blob=False,
        suppress_health_check=list(HealthCheck),
    )
    values.update(overrides)
    return settings(**values)


def seeded(test):
    """Apply ``DONGUI_FUZZ_SEED`` when it is set (otherwise the run is derandomized)."""
    if SEED is None:
        return test
    from hypothesis import seed

    return seed(SEED)(test)


@dataclass
class FuzzStack:
    consent_url: str
    dsr_url: str
    notifier_url: str
    database_url: str
    bootstrap: str
    #: Real identifiers to put in paths: name -> value.
    ids: dict[str, str] = field(default_factory=dict)
    #: Requester tokens by request id.
    tokens: dict[str, str] = field(default_factory=dict)

    def url(self, service: str) -> str:
        return {"consent": self.consent_url, "dsr": self.dsr_url, "notifier": self.notifier_url}[service]


class _ServingThread:
    """Runs the three services in a thread's own event loop until ``stop()``."""

    def __init__(self, database_url: str, bootstrap: str) -> None:
        self.database_url = database_url
        self.bootstrap = bootstrap
        self.ports = {"consent": free_port(), "notifier": free_port(), "dsr": free_port()}
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="fuzz-services", daemon=True)

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(120):
            raise AssertionError("the services did not start within 120s")
        if self._error is not None:
            raise self._error

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(60)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported to the starting thread
            self._error = exc
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        db, kafka = self.database_url, self.bootstrap
        consent_url = f"http://127.0.0.1:{self.ports['consent']}"
        notifier_url = f"http://127.0.0.1:{self.ports['notifier']}"
        async with Served(build_consent(consent_settings(db, kafka)), self.ports["consent"]), \
                Served(build_notifier(notifier_settings(db, kafka)), self.ports["notifier"]):
            dsr_app = build_dsr(dsr_settings(db, kafka, consent_url, notifier_url=notifier_url))
            async with Served(dsr_app, self.ports["dsr"]):
                async with dsr_app.state.runtime.pool.acquire() as conn:
                    await create_account(conn, username=STAFF_USER, password=STAFF_PASSWORD, role="staff",
                                         display_name="Fuzz staff")
                    await create_account(conn, username=MANAGER_USER, password=MANAGER_PASSWORD,
                                         role="privacy_manager", display_name="Fuzz manager")
                self._ready.set()
                await self._stop.wait()


def _seed(stack: FuzzStack) -> None:
    """A few real resources, so fuzzed ids can be real ones."""
    with httpx.Client(timeout=30) as http:
        consent, dsr, notifier = stack.consent_url, stack.dsr_url, stack.notifier_url
        r = http.post(f"{consent}/v1/policies", json=policy_body(), headers=MANAGER)
        assert r.status_code == 201, r.text
        subject = random_id("patient")
        r = http.post(f"{consent}/v1/consent-events", json=consent_event(subject_id=subject), headers=SYSTEM)
        assert r.status_code == 201, r.text
        stack.ids.update(subject_id=subject, record_id=r.json()["record_id"], policy_id="privacy-notice",
                         purpose="marketing_email")
        r = http.post(f"{dsr}/v1/systems", headers=MANAGER, json={
            "system_id": "emr", "name": "EMR", "data_categories": ["medical_record"],
            "retention_classes": ["medical_record"], "processor": False})
        assert r.status_code in (200, 201), r.text
        r = http.post(f"{dsr}/v1/systems/emr/keys", headers=MANAGER, json={"name": "fuzz"})
        assert r.status_code == 201, r.text
        stack.ids.update(system_id="emr", key_id=r.json()["key_id"])
        for name in ("request_id", "other_request_id", "approved_request_id"):
            r = http.post(f"{dsr}/v1/requests", json=request_body(subject_id=random_id("patient")), headers={})
            assert r.status_code == 201, r.text
            stack.ids[name] = r.json()["request_id"]
            stack.tokens[r.json()["request_id"]] = r.json()["token"]
        approved = stack.ids["approved_request_id"]
        r = http.post(f"{dsr}/v1/requests/{approved}/verification", headers=STAFF,
                      json={"method": "mobile_phone", "evidence_ref": "PASS-1", "representative_checked": False})
        assert r.status_code == 200, r.text
        r = http.post(f"{dsr}/v1/requests/{approved}/decision", headers=MANAGER, json={"decision": "approve"})
        assert r.status_code == 200, r.text
        task = run_psql(stack.database_url, "SELECT task_id FROM dsr.tasks LIMIT 1").strip()
        assert task, "the approved request made no task"
        stack.ids["task_id"] = task
        r = http.post(f"{dsr}/v1/breaches", headers=STAFF, json={
            "description": "fuzz", "discovered_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
            "data_categories": ["name"]})
        assert r.status_code == 201, r.text
        stack.ids["breach_id"] = r.json()["breach_id"]
        # The notifier hears of the requests over Kafka a moment later.
        deadline = time.monotonic() + 30
        while True:
            r = http.get(f"{notifier}/v1/notifications", headers=STAFF)
            assert r.status_code == 200, r.text
            if r.json()["items"]:
                stack.ids["notification_id"] = r.json()["items"][0]["id"]
                break
            assert time.monotonic() < deadline, "no notification reached the notifier within 30s"
            time.sleep(0.2)


@pytest.fixture(scope="module")
def fuzz_stack(postgres_server, template_database, tmp_path_factory) -> Iterator[FuzzStack]:
    name = f"fuzz_{secrets.token_hex(6)}"
    admin = postgres_server.admin_dsn
    run_psql(admin, f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"')
    # The HTTP fuzzers try the services' HTTP surface, not the broker: one broker (Tansu) is enough.
    broker = KafkaBroker("tansu", free_port(), tmp_path_factory.mktemp("tansu") / "tansu.log")
    broker.start()
    serving = _ServingThread(postgres_server.dsn_for(name), broker.bootstrap)
    try:
        serving.start()
        p = serving.ports
        stack = FuzzStack(f"http://127.0.0.1:{p['consent']}", f"http://127.0.0.1:{p['dsr']}",
                          f"http://127.0.0.1:{p['notifier']}", postgres_server.dsn_for(name), broker.bootstrap)
        _seed(stack)
        yield stack
    finally:
        serving.stop()
        broker.stop()
        run_psql(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
