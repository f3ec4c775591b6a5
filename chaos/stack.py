"""The stack under test, every part a separate process the runner can kill and start again.

PostgreSQL comes from ``deploy.local_infra``. The broker is chosen by ``CHAOS_BROKER``:
``apache`` (the default) is a three-node Apache Kafka cluster (KRaft, ``deploy.apache_kafka``:
replication factor 3, ``min.insync.replicas=2``), each node its own process and ports;
``tansu`` is Tansu storing in S3 (moto's server, from PyPI) instead of memory, so a ``kill -9``
of the broker loses nothing it acknowledged. The services and the example clinic systems are
started the way ``deploy.devstack`` starts them: ``python -m services.<name>`` with the
stack's environment.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from deploy.apache_kafka import KafkaCluster, start_kafka_cluster
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
BROKERS = ("apache", "tansu")


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


@dataclass
class Fault:
    """One fault: ``hit()`` does it and says what it hit (which node); ``restore()`` starts that again."""

    name: str
    down: float
    hit: Callable[[], str]
    restore: Callable[[], None]


class TansuBroker:
    """Tansu, one process, storing in moto's S3 server (``python -m chaos.s3``)."""

    kind = "tansu"
    #: Tansu on moto's S3 has lost acknowledged messages it had already served (docs/chaos.md):
    #: only a loss before the ledger recorded the message fails the run.
    strict_durability = False

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.s3_port = free_port()
        self.port = free_port()
        self.s3: ManagedProcess | None = None
        self.proc: ManagedProcess | None = None

    @property
    def bootstrap(self) -> str:
        return f"{HOST}:{self.port}"

    def env(self) -> dict[str, str]:
        return {}

    def settle(self) -> None:
        """Nothing to wait for: one process, started again by its fault (``start_tansu`` waits)."""

    def start(self) -> None:
        # moto's server with the broker's listings written fast (chaos/s3.py).
        self.s3 = spawn("moto-s3", [sys.executable, "-m", "chaos.s3", "-H", HOST, "-p", str(self.s3_port)],
                        url=f"http://{HOST}:{self.s3_port}", port=self.s3_port,
                        log_path=self.logs / "moto.log", cwd=REPO)
        _wait_http(f"{self.s3.url}/", self.s3, 60)
        with httpx.Client(timeout=10, trust_env=False) as client:
            response = client.put(f"{self.s3.url}/{BUCKET}")
            if response.status_code not in (200, 409):
                raise InfraError(f"cannot create bucket {BUCKET}: {response.status_code} {response.text}")
        self._start_tansu()

    def _start_tansu(self) -> None:
        assert self.s3 is not None
        self.proc = start_tansu(
            self.port,
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

    def _kill(self) -> str:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.popen.wait(timeout=30)
        return "the broker"

    def faults(self, down: float, outage: float, minority: float) -> list[Fault]:
        return [Fault("kill -9 broker", down, self._kill, self._start_tansu),
                Fault(f"broker outage {outage:.0f} s", outage, self._kill, self._start_tansu)]

    def stop(self) -> None:
        for proc in (self.proc, self.s3):
            if proc is not None:
                proc.stop(timeout=30)


class ApacheCluster:
    """Three Apache Kafka nodes (KRaft, each a combined controller and broker): RF 3, min ISR 2."""

    kind = "apache"
    #: Replicated, acks=all, no unclean election: an acknowledged message is never lost.
    strict_durability = True
    NODES = 3

    def __init__(self, logs: Path, data: Path) -> None:
        self.logs = logs
        self.data = data
        self.ports = [free_port() for _ in range(self.NODES)]
        self.cluster: KafkaCluster | None = None

    @property
    def bootstrap(self) -> str:
        return ",".join(f"{HOST}:{port}" for port in self.ports)

    def env(self) -> dict[str, str]:
        # What production runs on Apache Kafka; the topics the services create are replicated
        # on every node, so a leader's death fails over (auto topic creation is off).
        return {"KAFKA_IDEMPOTENT_PRODUCER": "true", "KAFKA_REPLICATION_FACTOR": str(self.NODES)}

    def start(self) -> None:
        self.cluster = start_kafka_cluster(self.data, self.ports, log_dir=self.logs)

    @property
    def _c(self) -> KafkaCluster:
        assert self.cluster is not None
        return self.cluster

    def settle(self, timeout: float = 180.0) -> None:
        """Until every node runs and every partition of every topic is led and in sync on all
        three (the last restart caught up). The runner waits for it before each broker fault, so
        that one fault does not hit a cluster still mending from the last, and before the checks."""
        self._c.wait_in_sync(timeout)

    def _leader(self, topic: str, partition: int) -> int:
        """The partition's leader now, asked again while the cluster's metadata is in flux."""
        deadline = time.monotonic() + 60
        while True:
            try:
                leader = self._c.leader_of(topic, partition)
                if leader > 0:  # -1 while it has none
                    return leader
            except Exception:
                if time.monotonic() > deadline:
                    raise
            if time.monotonic() > deadline:
                raise InfraError(f"{topic}[{partition}] has no leader")
            time.sleep(0.5)

    def _kill_leader(self, topic: str, partition: int, hit: list[int]) -> Callable[[], str]:
        def kill() -> str:
            node = self._leader(topic, partition)
            self._c.kill_node(node)
            hit[:] = [node]
            return f"node {node}, leader of {topic}[{partition}]"
        return kill

    def _stop(self, count: int, hit: list[int]) -> Callable[[], str]:
        def stop() -> str:
            # The leader of consent.inbound's first partition goes first, then the next node.
            first = self._leader("consent.inbound", 0)
            nodes = [first, *[n.node_id for n in self._c.nodes if n.node_id != first][:count - 1]]
            for node in nodes:
                self._c.stop_node(node, timeout=60)
            hit[:] = nodes
            return "node " + " and ".join(str(n) for n in nodes) + " (controlled shutdown)"
        return stop

    def _restart(self, hit: list[int]) -> Callable[[], None]:
        def restart() -> None:
            for node in hit:
                self._c.start_node(node)
        return restart

    def faults(self, down: float, outage: float, minority: float) -> list[Fault]:
        inbound: list[int] = []
        events: list[int] = []
        away: list[int] = []
        two: list[int] = []
        return [
            Fault("kill -9 leader of consent.inbound[0]", down,
                  self._kill_leader("consent.inbound", 0, inbound), self._restart(inbound)),
            Fault("kill -9 leader of consent.events[0]", down,
                  self._kill_leader("consent.events", 0, events), self._restart(events)),
            Fault(f"one broker away {outage:.0f} s", outage, self._stop(1, away), self._restart(away)),
            Fault(f"two brokers stopped {minority:.0f} s", minority, self._stop(2, two), self._restart(two)),
        ]

    def stop(self) -> None:
        if self.cluster is not None:
            self.cluster.stop(timeout=30)


Broker = TansuBroker | ApacheCluster


def make_broker(kind: str, workdir: Path, logs: Path) -> Broker:
    if kind == "tansu":
        return TansuBroker(logs)
    if kind == "apache":
        return ApacheCluster(logs, workdir / "kafka")
    raise ValueError(f"CHAOS_BROKER={kind!r}: one of {', '.join(BROKERS)}")


class Stack:
    """The broker (``CHAOS_BROKER``), PostgreSQL, the three services and the example clinic systems."""

    def __init__(self, workdir: Path, broker: str = "apache") -> None:
        self.workdir = workdir
        self.logs = workdir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.broker = make_broker(broker, workdir, self.logs)
        self.pg_port = free_port()
        self.ports = {name: free_port() for name in SERVICES}
        self.postgres: ManagedProcess | None = None
        self.apps: dict[str, ManagedProcess] = {}

    # --- addresses -----------------------------------------------------------------------

    @property
    def bootstrap(self) -> str:
        return self.broker.bootstrap

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
        env.update(self.broker.env())
        for name, port in self.ports.items():
            env[f"{name.upper()}_PORT"] = str(port)
            env[f"{name.upper()}_LOG_LEVEL"] = "WARNING"
        return env

    # --- infrastructure --------------------------------------------------------------------

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
        self.broker.start()
        self.start_postgres()
        for name in SERVICES:
            self.start_app(name)
        self.start_app("clinic_systems")

    # --- faults ----------------------------------------------------------------------------

    def kill(self, name: str) -> str:
        """``kill -9`` a service; returns what was hit."""
        proc = self.apps[name]
        os.kill(proc.pid, signal.SIGKILL)
        proc.popen.wait(timeout=30)
        return name

    def stop_postgres(self, how: str = "immediate") -> str:
        """Stop PostgreSQL: ``fast`` (SIGINT), ``immediate`` (SIGQUIT, crash recovery next start)."""
        assert self.postgres is not None
        os.kill(self.postgres.pid, signal.SIGQUIT if how == "immediate" else signal.SIGINT)
        self.postgres.popen.wait(timeout=60)
        return "postgres"

    def faults(self, down: float, outage: float, minority: float) -> list[tuple[str, Fault]]:
        """Every fault, in order, with the kind of part it hits: the services killed, PostgreSQL
        restarted in immediate mode, and the broker's own (see each broker's ``faults``). On the
        cluster the leader kills come first (under load even in the reduced run), the node away
        and the two stopped last."""
        own = [(name, Fault(f"kill -9 {name}", down, lambda n=name: self.kill(n),
                            lambda n=name: self.start_app(n, wait=False))) for name in SERVICES]
        own.append(("postgres", Fault("PostgreSQL restart (immediate)", down, self.stop_postgres,
                                      self.start_postgres)))
        broker = [("broker", f) for f in self.broker.faults(down, outage, minority)]
        if self.broker.kind == "tansu":  # today's order: the broker's kill before PostgreSQL's
            return [*own[:3], broker[0], own[3], *broker[1:]]
        return [*broker[:2], *own, *broker[2:]]

    def stop(self) -> None:
        for proc in self.apps.values():
            proc.signal_stop()
        for proc in self.apps.values():
            proc.stop(timeout=15)
        if self.postgres is not None:
            self.postgres.stop(timeout=30)
        self.broker.stop()
