"""The stack under test, every part a separate process the runner can kill and start again.

PostgreSQL and the broker come from ``deploy.local_infra``; the broker (Tansu) stores in S3
(moto's server, from PyPI) instead of memory, so a ``kill -9`` of the broker loses nothing it
acknowledged. The services and the example clinic systems are started the way
``deploy.devstack`` starts them: ``python -m services.<name>`` with the stack's environment.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import httpx

from deploy.local_infra import (
    HOST,
    InfraError,
    ManagedProcess,
    free_port,
    spawn,
    start_postgres,
    start_tansu,
)

REPO = Path(__file__).resolve().parent.parent
SERVICES = ("consent", "dsr", "notifier")
BUCKET = "tansu"


def _wait_http(url: str, proc: ManagedProcess, timeout: float, ok=lambda r: True) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2.0, trust_env=False) as client:
        while True:
            if proc.poll() is not None:
                raise InfraError(f"{proc.name} exited with {proc.poll()}:\n{proc.log_tail()}")
            try:
                if ok(client.get(url)):
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise InfraError(f"{proc.name} did not answer {url} within {timeout:.0f} s:\n"
                                 f"{proc.log_tail()}")
            time.sleep(0.1)


class Stack:
    """moto (S3), Tansu on S3, PostgreSQL, the three services and the example clinic systems."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.logs = workdir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.s3_port = free_port()
        self.broker_port = free_port()
        self.pg_port = free_port()
        self.ports = {name: free_port() for name in SERVICES}
        self.s3: ManagedProcess | None = None
        self.broker: ManagedProcess | None = None
        self.postgres: ManagedProcess | None = None
        self.apps: dict[str, ManagedProcess] = {}

    # --- addresses -----------------------------------------------------------------------

    @property
    def bootstrap(self) -> str:
        return f"{HOST}:{self.broker_port}"

    @property
    def database_url(self) -> str:
        return f"postgresql://postgres@{HOST}:{self.pg_port}/dongui"

    def url(self, service: str) -> str:
        return f"http://{HOST}:{self.ports[service]}"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CONSENT_", "DSR_", "NOTIFIER_"))}
        env.update({
            "DATABASE_URL": self.database_url,
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "DONGUI_ENVIRONMENT": "development",
            "PYTHONUNBUFFERED": "1",
            # A killed member's partitions go to its successor after the session timeout.
            "KAFKA_SESSION_TIMEOUT_MS": os.environ.get("CHAOS_SESSION_TIMEOUT_MS", "3000"),
            "KAFKA_HEARTBEAT_INTERVAL_MS": os.environ.get("CHAOS_HEARTBEAT_INTERVAL_MS", "1000"),
            "DSR_INTAKE_PER_MINUTE": "1000000",  # every filing comes from the runner's one address
            "DSR_SCHEDULER_INTERVAL": "5",
            "DSR_CONSENT_URL": self.url("consent"),
            "DSR_URL": self.url("dsr"),
            "DSR_API_KEY": "dev-manager",
            "EXAMPLE_LOG_LEVEL": "INFO",  # which task was answered when: kept in the logs
        })
        for name, port in self.ports.items():
            env[f"{name.upper()}_PORT"] = str(port)
            env[f"{name.upper()}_LOG_LEVEL"] = "WARNING"
        return env

    # --- infrastructure --------------------------------------------------------------------

    def start_s3(self) -> None:
        # moto's server with the broker's listings written fast (chaos/s3.py).
        self.s3 = spawn("moto-s3", [sys.executable, "-m", "chaos.s3", "-H", HOST, "-p", str(self.s3_port)],
                        url=f"http://{HOST}:{self.s3_port}", port=self.s3_port,
                        log_path=self.logs / "moto.log", cwd=REPO)
        _wait_http(f"{self.s3.url}/", self.s3, 60)
        with httpx.Client(timeout=10, trust_env=False) as client:
            response = client.put(f"{self.s3.url}/{BUCKET}")
            if response.status_code not in (200, 409):
                raise InfraError(f"cannot create bucket {BUCKET}: {response.status_code} {response.text}")

    def start_broker(self) -> None:
        assert self.s3 is not None
        self.broker = start_tansu(
            self.broker_port,
            log_path=self.logs / "tansu.log",
            storage=f"s3://{BUCKET}/",
            storage_env={
                "AWS_ACCESS_KEY_ID": "chaos",
                "AWS_SECRET_ACCESS_KEY": "chaos",
                "AWS_ENDPOINT": self.s3.url,
                "AWS_ALLOW_HTTP": "true",
                "AWS_DEFAULT_REGION": "us-east-1",
            },
        )

    def start_postgres(self) -> None:
        # Durable settings (not throwaway): with synchronous_commit=off an immediate stop
        # loses commits already acknowledged to clients (seen: requests answered 201, then gone).
        self.postgres = start_postgres(self.workdir / "postgres", self.pg_port, throwaway=False,
                                       log_path=self.logs / "postgres.log")

    # --- services --------------------------------------------------------------------------

    def start_app(self, name: str, *, wait: bool = True) -> None:
        kind = "examples" if name == "clinic_systems" else "services"
        proc = spawn(name, [sys.executable, "-m", f"{kind}.{name}"], env=self.env(), cwd=REPO,
                     url=self.url(name) if name in self.ports else "",
                     log_path=self.logs / f"{name}.log")
        self.apps[name] = proc
        if wait and name in self.ports:
            _wait_http(f"{self.url(name)}/healthz", proc, 90, ok=lambda r: r.status_code == 200)

    def start(self) -> None:
        self.start_s3()
        self.start_broker()
        self.start_postgres()
        for name in SERVICES:
            self.start_app(name)
        self.start_app("clinic_systems")

    # --- faults ----------------------------------------------------------------------------

    def kill(self, name: str) -> None:
        """``kill -9`` a service, the broker or PostgreSQL (its postmaster)."""
        proc = {"broker": self.broker, "postgres": self.postgres}.get(name) or self.apps[name]
        os.kill(proc.pid, signal.SIGKILL)
        proc.popen.wait(timeout=30)
        if name == "postgres":  # the postmaster's children notice and exit on their own
            time.sleep(1)

    def stop_postgres(self, how: str = "immediate") -> None:
        """Stop PostgreSQL: ``fast`` (SIGINT), ``immediate`` (SIGQUIT, crash recovery next start)."""
        assert self.postgres is not None
        os.kill(self.postgres.pid, signal.SIGQUIT if how == "immediate" else signal.SIGINT)
        self.postgres.popen.wait(timeout=60)

    def restart(self, name: str) -> None:
        if name == "broker":
            self.start_broker()
        elif name == "postgres":
            self.start_postgres()
        else:
            self.start_app(name, wait=False)

    def stop(self) -> None:
        for proc in self.apps.values():
            proc.signal_stop()
        for proc in self.apps.values():
            proc.stop(timeout=15)
        for proc in (self.broker, self.postgres, self.s3):
            if proc is not None:
                proc.stop(timeout=30)
