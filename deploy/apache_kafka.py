"""Apache Kafka (KRaft) as supervised child processes: one broker, or a cluster on one machine.

The broker production runs, brought the way the embedded PostgreSQL and Tansu are (see
``deploy/local_infra.py``): no Docker, no download outside the package registries. Its jars come
from Maven Central, pinned by ``deploy/kafka/pom.xml`` and copied once into
``.tools/kafka-<version>/libs`` (ignored by git) by Maven; a JDK 17 or newer runs them.

Each node is a combined controller and broker (``process.roles=broker,controller``) with a
static quorum of every node, its storage formatted once (``kafka.tools.StorageTool format``),
listening on loopback: clients on its own port, the controllers on another. Started with
``start_kafka`` (one node) or ``start_kafka_cluster`` (three, for the chaos runs: replication
factor 3, ``min.insync.replicas=2``); each node is a :class:`ManagedProcess` that stops with a
controlled shutdown (SIGTERM) and dies with its supervisor.

With ``sasl`` the client listener asks for SASL/SCRAM-SHA-512 and the StandardAuthorizer checks
every request against the ACLs (``deploy/kafka_acls.py`` says which); the users and their
passwords are written into the storage when it is formatted, as Kafka's own documentation
bootstraps SCRAM in KRaft.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import fcntl
import logging
import os
import shutil
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from xml.etree import ElementTree

from deploy.local_infra import (
    HOST,
    InfraError,
    ManagedProcess,
    PortInUseError,
    accepts_tcp,
    free_port,
    port_is_free,
    spawn,
)

__all__ = [
    "KafkaCluster",
    "Sasl",
    "install_hint",
    "java_binary",
    "kafka_libs",
    "kafka_version",
    "run_kafka_tool",
    "start_kafka",
    "start_kafka_cluster",
]

ROOT = Path(__file__).resolve().parent.parent
POM = ROOT / "deploy" / "kafka" / "pom.xml"
LOG4J_CONFIG = ROOT / "deploy" / "kafka" / "log4j2.properties"
#: Where the resolved jars are kept, one folder per version (ignored by git, kept by clean-data).
TOOLS = ROOT / ".tools"
#: The SCRAM mechanism of the SASL stack (the stronger of the two Kafka offers).
SCRAM = "SCRAM-SHA-512"
#: The user the brokers talk to each other as, and the operator's (ACLs, topics): a super user.
ADMIN_USER = "admin"
T = TypeVar("T")

#: Heap of each node: enough for the benchmark's load, small enough for three nodes and the rest.
HEAP = "-Xmx768m"


def install_hint() -> str:
    return (
        "Apache Kafka needs a JDK 17 or newer and Maven: `make kafka` installs them with apt-get "
        "(as root or with sudo), or set JAVA_HOME to a JDK 17+."
    )


# ---------------------------------------------------------------------------- the jars


def kafka_version(pom: Path = POM) -> str:
    """The pinned Apache Kafka version (``kafka.version`` in ``deploy/kafka/pom.xml``)."""
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    element = ElementTree.parse(pom).getroot().find("m:properties/m:kafka.version", ns)
    if element is None or not (element.text or "").strip():
        raise InfraError(f"{pom} names no kafka.version")
    return element.text.strip()  # type: ignore[union-attr]


def java_binary() -> str:
    """The ``java`` to run the broker with: ``$JAVA_HOME/bin/java``, else the one on PATH."""
    home = os.environ.get("JAVA_HOME")
    candidates = [Path(home) / "bin" / "java"] if home else []
    found = shutil.which("java")
    if found:
        candidates.append(Path(found))
    for java in candidates:
        if java.is_file() and os.access(java, os.X_OK):
            return str(java)
    raise InfraError(f"No Java found. {install_hint()}")


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` (made if missing): one resolver at a time, across processes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def kafka_libs(version: str | None = None) -> Path:
    """The folder of the pinned broker's jars, resolved from Maven Central by Maven the first time.

    Maven copies them into a scratch folder that is renamed into place only when complete, so an
    interrupted first resolution is never taken for a finished one; a lock keeps two test workers
    from resolving at once. Maven checks every jar's checksum against Maven Central's (``-C``).
    """
    version = version or kafka_version()
    home = TOOLS / f"kafka-{version}"
    libs = home / "libs"
    if (libs / f"kafka_2.13-{version}.jar").is_file():
        return libs
    with _locked(TOOLS / f".kafka-{version}.lock"):
        if (libs / f"kafka_2.13-{version}.jar").is_file():
            return libs
        mvn = shutil.which("mvn")
        if mvn is None:
            raise InfraError(f"Maven (mvn) is missing, and resolves the broker's jars. {install_hint()}")
        scratch = home / "libs.partial"
        shutil.rmtree(scratch, ignore_errors=True)
        result = subprocess.run(
            [mvn, "-B", "-q", "-C", "-f", str(POM), "dependency:copy-dependencies",
             f"-Dkafka.version={version}", f"-DoutputDirectory={scratch}", "-DincludeScope=runtime"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env={**os.environ, "JAVA_HOME": str(Path(java_binary()).resolve().parent.parent)},
        )  # fmt: skip
        if result.returncode != 0 or not (scratch / f"kafka_2.13-{version}.jar").is_file():
            raise InfraError(
                f"Maven could not resolve Apache Kafka {version} from Maven Central "
                f"(exit {result.returncode}):\n{result.stdout[-3000:]}{result.stderr[-2000:]}"
            )
        shutil.rmtree(libs, ignore_errors=True)
        scratch.rename(libs)
    return libs


def _java_command(main: str, *args: str, heap: str = "-Xmx256m") -> list[str]:
    return [
        java_binary(), heap, "-XX:+UseG1GC", "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
        "-cp", f"{kafka_libs()}/*", main, *args,
    ]  # fmt: skip


def run_kafka_tool(main: str, *args: str, timeout: float = 120.0) -> str:
    """Run one of Kafka's command-line tools (a class name, e.g. ``org.apache.kafka.tools.AclCommand``)."""
    result = subprocess.run(
        _java_command(main, *args),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        raise InfraError(f"{main.rsplit('.', 1)[-1]} failed (exit {result.returncode}):\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    return result.stdout


# ------------------------------------------------------------------------ the nodes


@dataclass(frozen=True)
class Sasl:
    """SASL/SCRAM on the client listener: every user and its password, and the admin's."""

    users: Mapping[str, str]
    admin_password: str

    def client_options(self, user: str = ADMIN_USER) -> dict[str, str]:
        """aiokafka's connection options for ``user`` (the admin by default)."""
        password = self.admin_password if user == ADMIN_USER else self.users[user]
        return {
            "security_protocol": "SASL_PLAINTEXT",
            "sasl_mechanism": SCRAM,
            "sasl_plain_username": user,
            "sasl_plain_password": password,
        }

    def client_env(self, user: str) -> dict[str, str]:
        """The services' settings for ``user`` (``KAFKA_SECURITY_PROTOCOL`` and the rest)."""
        options = self.client_options(user)
        return {
            "KAFKA_SECURITY_PROTOCOL": options["security_protocol"],
            "KAFKA_SASL_MECHANISM": options["sasl_mechanism"],
            "KAFKA_SASL_USERNAME": options["sasl_plain_username"],
            "KAFKA_SASL_PASSWORD": options["sasl_plain_password"],
        }

    def java_client_properties(self, user: str = ADMIN_USER) -> str:
        """The ``--command-config`` of Kafka's own tools for ``user``."""
        options = self.client_options(user)
        return (
            "security.protocol=SASL_PLAINTEXT\n"
            f"sasl.mechanism={SCRAM}\n"
            f"sasl.jaas.config={_jaas(options['sasl_plain_username'], options['sasl_plain_password'])}\n"
        )


def _jaas(user: str, password: str) -> str:
    def quoted(text: str) -> str:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

    return f"org.apache.kafka.common.security.scram.ScramLoginModule required username={quoted(user)} password={quoted(password)};"


@dataclass
class _Node:
    node_id: int
    port: int
    controller_port: int
    data_dir: Path
    log_path: Path
    process: ManagedProcess | None = None

    @property
    def properties(self) -> Path:
        return self.data_dir / "server.properties"


def _cluster_id() -> str:
    """A Kafka cluster id: 16 random bytes, URL-safe base64 without padding (as StorageTool makes)."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()


def _server_properties(node: _Node, nodes: Sequence[_Node], sasl: Sasl | None, extra: Mapping[str, str]) -> str:
    count = len(nodes)
    insync = 2 if count >= 3 else 1
    client = "SASL_PLAINTEXT" if sasl else "PLAINTEXT"
    voters = ",".join(f"{n.node_id}@{HOST}:{n.controller_port}" for n in nodes)
    settings: dict[str, str] = {
        "process.roles": "broker,controller",
        "node.id": str(node.node_id),
        "controller.quorum.voters": voters,
        "listeners": f"{client}://{HOST}:{node.port},CONTROLLER://{HOST}:{node.controller_port}",
        "advertised.listeners": f"{client}://{HOST}:{node.port}",
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": f"{client}:{client},CONTROLLER:PLAINTEXT",
        "inter.broker.listener.name": client,
        "log.dirs": str(node.data_dir / "logs"),
        # What a clinic's cluster would hold: every partition on every broker of three, a write
        # acknowledged by two (acks=all), and the services creating their own topics.
        "num.partitions": "3",
        "default.replication.factor": str(count),
        "min.insync.replicas": str(insync),
        "offsets.topic.replication.factor": str(count),
        "transaction.state.log.replication.factor": str(count),
        "transaction.state.log.min.isr": str(insync),
        "share.coordinator.state.topic.replication.factor": str(count),
        "share.coordinator.state.topic.min.isr": str(insync),
        "auto.create.topics.enable": "false",
        "unclean.leader.election.enable": "false",
        # One machine, few partitions: fewer offsets partitions make the first group join quick.
        "offsets.topic.num.partitions": "6",
        # A group's first member starts at once instead of waiting 3 s for others.
        "group.initial.rebalance.delay.ms": "0",
        # The tests' consumers time out in 2 s to notice a dead member quickly; Kafka's floor is 6 s.
        "group.min.session.timeout.ms": "500",
        "delete.topic.enable": "true",
    }
    if sasl:
        settings.update({
            "sasl.enabled.mechanisms": SCRAM,
            "sasl.mechanism.inter.broker.protocol": SCRAM,
            f"listener.name.{client.lower()}.{SCRAM.lower()}.sasl.jaas.config": _jaas(ADMIN_USER, sasl.admin_password),
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            # The controllers reach each other on the loopback CONTROLLER listener, unauthenticated
            # (ANONYMOUS); production puts SSL or SASL on it (docs/deployment.md).
            "super.users": f"User:{ADMIN_USER};User:ANONYMOUS",
            "allow.everyone.if.no.acl.found": "false",
        })  # fmt: skip
    settings.update(extra)
    return "".join(f"{key}={value}\n" for key, value in settings.items())


def _format(node: _Node, cluster_id: str, sasl: Sasl | None) -> None:
    """Format the node's storage once (``meta.properties`` says it is done)."""
    if (node.data_dir / "logs" / "meta.properties").is_file():
        return
    args = ["format", "-t", cluster_id, "-c", str(node.properties), "--ignore-formatted"]
    if sasl:
        for user, password in {ADMIN_USER: sasl.admin_password, **sasl.users}.items():
            args += ["--add-scram", f"{SCRAM}=[name={user},password={password}]"]
    run_kafka_tool("kafka.tools.StorageTool", *args)


def _start_node(node: _Node) -> ManagedProcess:
    if not port_is_free(node.port):
        raise PortInUseError(node.port, "Apache Kafka")
    if not port_is_free(node.controller_port):
        raise PortInUseError(node.controller_port, "Apache Kafka's controller")
    return spawn(
        f"kafka-{node.node_id}",
        _java_command("kafka.Kafka", str(node.properties), heap=HEAP),
        url=f"{HOST}:{node.port}",
        port=node.port,
        stop_signal=signal.SIGTERM,  # controlled shutdown: leadership moves before it exits
        log_path=node.log_path,
    )


def _run_async(coroutine_factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion on a loop of its own (callers may be inside another loop)."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = asyncio.run(coroutine_factory())
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=target, name="kafka-admin", daemon=True)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def _brokers_seen(bootstrap: str, options: Mapping[str, str]) -> int:
    """How many brokers the cluster's metadata names (0 when it cannot be asked)."""
    from aiokafka.admin import AIOKafkaAdminClient

    if not any(accepts_tcp(int(address.rsplit(":", 1)[1])) for address in bootstrap.split(",")):
        return 0  # not listening yet: not worth a client (and its log lines)

    async def ask() -> int:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000, **options)
        try:
            await asyncio.wait_for(admin.start(), timeout=5)
            cluster = await asyncio.wait_for(admin.describe_cluster(), timeout=5)
            return len(cluster["brokers"])
        finally:
            with contextlib.suppress(Exception):
                await admin.close()

    quiet = logging.getLogger("aiokafka")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)  # "Unable connect" while a node starts is expected here
    try:
        return _run_async(ask)
    except Exception:
        return 0
    finally:
        quiet.setLevel(level)


@dataclass
class KafkaCluster:
    """Apache Kafka nodes started here: each its own process, data folder and ports."""

    nodes: list[_Node]
    sasl: Sasl | None = None
    _stopped: bool = field(default=False, repr=False)

    @property
    def bootstrap(self) -> str:
        """Every node's client address, comma-separated (what KAFKA_BOOTSTRAP_SERVERS takes)."""
        return ",".join(f"{HOST}:{n.port}" for n in self.nodes)

    @property
    def processes(self) -> list[ManagedProcess]:
        return [n.process for n in self.nodes if n.process is not None]

    def client_options(self, user: str = ADMIN_USER) -> dict[str, str]:
        """aiokafka options to connect (as ``user`` with SASL, else no options)."""
        return self.sasl.client_options(user) if self.sasl else {}

    def node(self, node_id: int) -> _Node:
        return next(n for n in self.nodes if n.node_id == node_id)

    def running(self, node_id: int) -> bool:
        process = self.node(node_id).process
        return process is not None and process.running

    def start_node(self, node_id: int) -> ManagedProcess:
        """(Re)start one node from its data; returns at once (see :meth:`wait_ready`)."""
        node = self.node(node_id)
        if node.process is not None and node.process.running:
            return node.process
        node.process = _start_node(node)
        return node.process

    def kill_node(self, node_id: int) -> None:
        """SIGKILL one node: no controlled shutdown, as when a machine dies."""
        node = self.node(node_id)
        if node.process is not None and node.process.running:
            node.process.popen.kill()
            node.process.popen.wait(timeout=30)

    def stop_node(self, node_id: int, timeout: float = 60.0) -> None:
        """Stop one node with a controlled shutdown (SIGKILL after ``timeout`` seconds)."""
        node = self.node(node_id)
        if node.process is not None:
            node.process.stop(timeout=timeout)
            node.process = None

    def wait_ready(self, timeout: float = 90.0, brokers: int | None = None) -> None:
        """Until the metadata names ``brokers`` (default: every running node); fail early on a crash."""
        expected = brokers if brokers is not None else sum(1 for n in self.nodes if n.process and n.process.running)
        deadline = time.monotonic() + timeout
        bootstrap = self._running_bootstrap()
        options = self.client_options()
        while True:
            for node in self.nodes:
                if node.process is not None and node.process.poll() is not None:
                    tail = node.process.log_tail()
                    raise InfraError(f"Apache Kafka node {node.node_id} exited with code {node.process.poll()}."
                                     + (f"\n--- last lines of its log ({node.log_path}) ---\n{tail}" if tail else ""))
            if _brokers_seen(bootstrap, options) >= expected:
                return
            if time.monotonic() > deadline:
                raise InfraError(f"Apache Kafka ({bootstrap}) did not show {expected} broker(s) within {timeout:.0f} s.")
            time.sleep(0.2)

    def _running_bootstrap(self) -> str:
        """The client addresses of the nodes running now."""
        return ",".join(f"{HOST}:{n.port}" for n in self.nodes if n.process and n.process.running)

    def partitions(self, topics: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """Each partition of ``topics`` (default: every topic but Kafka's own ``__…``) as the cluster
        describes it now: ``topic``, ``partition``, ``leader`` (-1 while it has none) and ``isr``."""
        from aiokafka.admin import AIOKafkaAdminClient

        options = self.client_options()
        bootstrap = self._running_bootstrap()

        async def ask() -> list[dict[str, Any]]:
            admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000, **options)
            await asyncio.wait_for(admin.start(), timeout=10)
            try:
                names = list(topics) if topics is not None else [
                    t for t in await admin.list_topics() if not t.startswith("__")]
                return [{**part, "topic": description["topic"]}
                        for description in await admin.describe_topics(names)
                        for part in description["partitions"]]
            finally:
                await admin.close()

        return _run_async(ask)

    def leader_of(self, topic: str, partition: int = 0) -> int:
        """The node leading ``topic``'s partition now (asked of the cluster)."""
        for part in self.partitions([topic]):
            if part["partition"] == partition:
                return int(part["leader"])
        raise InfraError(f"{topic} has no partition {partition}")

    def wait_in_sync(self, timeout: float = 180.0) -> None:
        """Until every partition of every topic is led and in sync on every node (a restarted node
        has caught up); every node must be running."""
        for node in self.nodes:
            if not self.running(node.node_id):
                raise InfraError(f"Apache Kafka node {node.node_id} is not running")
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(Exception):  # metadata in flux: ask again
                if all(part["leader"] >= 0 and len(part["isr"]) == len(self.nodes) for part in self.partitions()):
                    return
            if time.monotonic() > deadline:
                raise InfraError(f"the cluster's partitions were not in sync on all {len(self.nodes)} nodes "
                                 f"within {timeout:.0f} s")
            time.sleep(0.5)

    def stop(self, timeout: float = 60.0) -> None:
        """Stop every node (controlled shutdowns in parallel, SIGKILL after ``timeout``)."""
        if self._stopped:
            return
        for node in self.nodes:
            if node.process is not None:
                node.process.signal_stop()
        for node in self.nodes:
            self.stop_node(node.node_id, timeout=timeout)
        self._stopped = True

    def __enter__(self) -> KafkaCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_kafka_cluster(
    data_root: Path,
    ports: Sequence[int],
    *,
    controller_ports: Sequence[int] | None = None,
    sasl: Sasl | None = None,
    log_dir: Path | None = None,
    settings: Mapping[str, str] | None = None,
    timeout: float = 120.0,
) -> KafkaCluster:
    """Start one Apache Kafka node per client port in ``ports``; wait until all are brokers.

    ``data_root/node-<id>`` keeps each node's data: a folder formatted before is started as it
    is (its topics and offsets survive, as in production), an empty one is formatted first.
    ``settings`` overrides any server property. Logs go to ``log_dir/kafka-<id>.log`` (appended),
    by default ``data_root/node-<id>.log``.
    """
    if not ports:
        raise ValueError("at least one port")
    controller_ports = list(controller_ports or [free_port() for _ in ports])
    nodes = [
        _Node(
            node_id=index + 1,
            port=port,
            controller_port=controller_ports[index],
            data_dir=Path(data_root) / f"node-{index + 1}",
            log_path=(Path(log_dir) / f"kafka-{index + 1}.log") if log_dir else Path(data_root) / f"node-{index + 1}.log",
        )
        for index, port in enumerate(ports)
    ]
    cluster = KafkaCluster(nodes, sasl=sasl)
    ids = {(n.data_dir / "logs" / "meta.properties") for n in nodes}
    cluster_id = _existing_cluster_id(ids) or _cluster_id()
    for node in nodes:
        node.data_dir.mkdir(parents=True, exist_ok=True)
        node.properties.write_text(_server_properties(node, nodes, sasl, settings or {}))
        _format(node, cluster_id, sasl)
    try:
        for node in nodes:
            cluster.start_node(node.node_id)
        cluster.wait_ready(timeout)
    except BaseException:
        cluster.stop(timeout=10)
        raise
    return cluster


def _existing_cluster_id(meta_files: set[Path]) -> str | None:
    for meta in meta_files:
        if meta.is_file():
            for line in meta.read_text().splitlines():
                if line.startswith("cluster.id="):
                    return line.split("=", 1)[1].strip()
    return None


def start_kafka(
    port: int,
    data_dir: Path,
    *,
    sasl: Sasl | None = None,
    log_dir: Path | None = None,
    settings: Mapping[str, str] | None = None,
    timeout: float = 90.0,
) -> KafkaCluster:
    """One Apache Kafka node (controller and broker) on 127.0.0.1:``port``, data in ``data_dir``."""
    return start_kafka_cluster(Path(data_dir), [port], sasl=sasl, log_dir=log_dir, settings=settings, timeout=timeout)


def delete_all_topics(cluster: KafkaCluster, timeout: float = 30.0) -> list[str]:
    """Delete every topic but Kafka's own (``__…``); return when the metadata names none of them.

    The tests' way to give each test an empty broker without a JVM start: with the topics go their
    committed offsets, so a group of the same name starts afresh too.
    """
    from aiokafka.admin import AIOKafkaAdminClient

    bootstrap = ",".join(f"{HOST}:{n.port}" for n in cluster.nodes if n.process and n.process.running)
    options = cluster.client_options()

    async def delete() -> list[str]:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000, **options)
        await asyncio.wait_for(admin.start(), timeout=10)
        try:
            ours = [t for t in await admin.list_topics() if not t.startswith("__")]
            if ours:
                await admin.delete_topics(ours)
            deadline = time.monotonic() + timeout
            while ours:
                await admin._client.force_metadata_update()
                left = [t for t in await admin.list_topics() if not t.startswith("__")]
                if not left:
                    break
                if time.monotonic() > deadline:
                    raise InfraError(f"topics still listed {timeout:.0f} s after their deletion: {left}")
                await asyncio.sleep(0.05)
            return ours
        finally:
            await admin.close()

    return _run_async(delete)
