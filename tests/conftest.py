"""Fixtures giving tests a real PostgreSQL and real Kafka-protocol brokers (Tansu, Apache Kafka).

The servers are the project's own (``deploy/local_infra.py``: PostgreSQL and Tansu from the
``embedded`` extra; ``deploy/apache_kafka.py``: Apache Kafka's jars from Maven Central, ``make
kafka``) on random loopback ports, never a server that happens to run on the machine. They fail
loudly when they cannot start: a test that needs them errors instead of being skipped.

* ``postgres_server`` (session): one throwaway cluster for the whole run.
* ``template_database`` (session): ``dongui_template``, migrated once.
* ``database_url`` (function): a fresh copy of the template per test, dropped afterwards.
* ``kafka_broker`` / ``kafka_bootstrap`` (function): an empty broker per test, on each broker of
  ``BROKERS``: a Tansu of its own, and the session's Apache Kafka emptied after each test.
* ``acl_kafka`` (session): an Apache Kafka with SASL/SCRAM, a user per service and per system of
  ``ACL_SYSTEMS``, and only the ACLs of ``deploy/kafka_acls.py`` (nothing else is allowed).

Markers (the pyramid; ``make test-fast`` runs ``not (browser or fuzz or chaos or slow)``) are
given here by ``pytest_collection_modifyitems``, not in each file:

* ``browser``, ``fuzz``, ``chaos`` by where the test lives;
* ``integration`` for a test that uses the database or the broker, directly or through another
  fixture; ``unit`` for every other test (pure code, milliseconds);
* ``slow`` for what the daily loop leaves to ``make test``: the areas in ``SLOW_PATHS``, the
  tests in ``SLOW_TESTS``, and every integration test outside ``DAILY_INTEGRATION``.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from deploy.apache_kafka import KafkaCluster
from deploy.local_infra import (
    HOST,
    ManagedProcess,
    free_port,
    run_psql,
    start_postgres,
    start_tansu,
)

TEMPLATE_DATABASE = "dongui_template"

TESTS = Path(__file__).parent
# Where a test lives decides these markers (paths relative to tests/, a folder or a file).
AREA_MARKERS = {
    "browser": ("browser", "portal/test_browser.py", "dashboard/test_browser.py"),
    "fuzz": ("fuzz",),
    "chaos": ("chaos",),
}
# The fixtures that start or hand out a real server: a test using any of them is integration.
INFRA_FIXTURES = frozenset({"postgres_server", "template_database", "database_url", "kafka_broker", "kafka_bootstrap",
                            "apache_kafka", "acl_kafka"})
# Left to `make test`: the deployment checks (images, manifests, roles), the example clinic
# systems, the benchmark's own tests, and the processes started and killed for real.
SLOW_PATHS = (
    "deploy",
    "examples",
    "test_bench_rounds.py",
    "consent/test_restart.py",
    "test_personal_data_at_rest.py",
    "notifier/test_with_real_services.py",
)
# Tests measured (`--durations`) at a second or more on the 2-core machine: outages waited
# out, retries on a clock, many examples of a property (node ids without parameters).
SLOW_TESTS = frozenset({
    "test_cloudevents_reading.py::test_reading_a_structured_message_is_what_it_always_was",
    "test_jsonbytes.py::test_canonical_is_the_standard_librarys_sorted_compact_json",
    "test_jsonbytes.py::test_compact_is_the_standard_librarys_compact_json",
    "test_messaging.py::test_a_database_outage_delays_consumption_and_loses_nothing",
    "notifier/test_delivery.py::test_an_smtp_outage_and_a_restart_lose_nothing",
    "test_consumer_lanes.py::test_a_failed_lane_replays_its_partition_and_the_others_go_on",
    "test_consumer_lanes.py::test_lanes_handle_partitions_at_once_each_in_order_and_every_message_once",
    "notifier/test_dead_letters.py::test_any_dead_letter_becomes_a_notification_and_nothing_loops",
    "test_local_infra.py::test_as_root_postgres_runs_from_a_clone_in_a_private_folder",
    "test_local_infra.py::test_apache_kafka_restarts_from_its_data_as_production_would",
    "test_local_infra.py::test_apache_kafka_with_sasl_knows_its_users_and_keeps_to_the_acls",
})


# The integration tests of the daily loop (`make test-fast`), chosen by measured duration to
# touch each service's main path: nearly every integration test costs 1.2 to 4 s (a consumer
# group joining Tansu holds about a second), so all of them cannot fit in a minute.
DAILY_INTEGRATION = (
    "consent/test_kafka.py",
    "consent/test_policies.py",
    "notifier/test_inbox.py",
    "portal/test_pages.py",
    "test_messaging.py",
    "test_read_lane.py",
    "test_db.py",
    "test_local_infra.py",
)


# pytest-timeout: `timeout` in pyproject.toml (120 s) is for every test, seven times the slowest
# measured outside these areas (16 s); the chaos run measured 146 s, and `make fuzz` multiplies
# the fuzzers' examples, so these get longer unless a test sets its own.
AREA_TIMEOUTS = {"chaos": 900, "fuzz": 1800}


def _under(relative: str, prefixes: tuple[str, ...]) -> bool:
    return any(relative == p or relative.startswith(p + "/") for p in prefixes)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        try:
            relative = item.path.relative_to(TESTS).as_posix()
        except ValueError:  # not under tests/
            continue
        for marker, prefixes in AREA_MARKERS.items():
            if _under(relative, prefixes):
                item.add_marker(marker)
                if marker in AREA_TIMEOUTS and item.get_closest_marker("timeout") is None:
                    item.add_marker(pytest.mark.timeout(AREA_TIMEOUTS[marker]))
        # fixturenames is the closure: a fixture asked for by another fixture counts too.
        integration = bool(INFRA_FIXTURES.intersection(getattr(item, "fixturenames", ())))
        item.add_marker("integration" if integration else "unit")
        if (
            _under(relative, SLOW_PATHS)
            or f"{relative}::{getattr(item, 'originalname', item.name)}" in SLOW_TESTS
            or (integration and not _under(relative, DAILY_INTEGRATION))
        ):
            item.add_marker("slow")


@dataclass(frozen=True)
class PostgresServer:
    """Where the session's throwaway PostgreSQL listens (superuser ``postgres``, no password)."""

    host: str
    port: int
    data_dir: Path

    @property
    def admin_dsn(self) -> str:
        """DSN of the ``postgres`` maintenance database, for CREATE/DROP DATABASE."""
        return self.dsn_for("postgres")

    def dsn_for(self, dbname: str) -> str:
        """DSN of database ``dbname`` on this server."""
        return f"postgresql://postgres@{self.host}:{self.port}/{dbname}"


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """A throwaway embedded PostgreSQL for the whole test session."""
    root = tmp_path_factory.mktemp("postgres")
    port = free_port()
    assert port != 5432  # free_port() cannot return a taken port; belt and braces
    proc = start_postgres(root / "data", port, throwaway=True, log_path=root / "postgres.log")
    try:
        yield PostgresServer(HOST, port, root / "data")
    finally:
        proc.stop(timeout=30)


@pytest.fixture(scope="session")
def template_database(postgres_server: PostgresServer) -> str:
    """``dongui_template`` with every migration applied; tests get copies of it."""
    # Imported here so broker-only tests still run while migrations are being written.
    from shared.migrations import upgrade_all

    admin = postgres_server.admin_dsn
    run_psql(admin, f'CREATE DATABASE "{TEMPLATE_DATABASE}"')
    upgrade_all(postgres_server.dsn_for(TEMPLATE_DATABASE))
    # CREATE DATABASE ... TEMPLATE fails while anyone is connected to the template, so
    # forbid new connections and close any a migration tool's pool left open.
    run_psql(
        admin,
        f'ALTER DATABASE "{TEMPLATE_DATABASE}" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false',
    )
    run_psql(
        admin,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        f"WHERE datname = '{TEMPLATE_DATABASE}'",
    )
    return TEMPLATE_DATABASE


@pytest.fixture
def database_url(postgres_server: PostgresServer, template_database: str) -> Iterator[str]:
    """DSN of a migrated database of this test's own, dropped when the test ends."""
    name = f"t_{secrets.token_hex(8)}"
    admin = postgres_server.admin_dsn
    run_psql(admin, f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"')
    try:
        yield postgres_server.dsn_for(name)
    finally:
        # FORCE: a test that leaked a connection must not make teardown fail or hang.
        run_psql(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


#: The brokers every broker-facing test runs on: Tansu (the embedded default) and Apache Kafka (what
#: production runs). ``DONGUI_TEST_BROKERS=tansu`` (or ``apache``) narrows a run to one of them.
BROKERS = ("tansu", "apache")


def _brokers_asked() -> tuple[str, ...]:
    asked = tuple(b.strip() for b in os.environ.get("DONGUI_TEST_BROKERS", ",".join(BROKERS)).split(",") if b.strip())
    unknown = set(asked) - set(BROKERS)
    if unknown or not asked:
        raise pytest.UsageError(f"DONGUI_TEST_BROKERS names {sorted(unknown) or 'nothing'}; it takes {', '.join(BROKERS)}")
    return asked


class KafkaBroker:
    """The broker of one test, which may stop and restart it (same port).

    On Tansu it is the test's own, memory-only broker: a restart comes back empty. On Apache Kafka
    it is the session's broker (a JVM start per test would double the suite's time), emptied of
    every topic after each test; a restart keeps its data, as production's would.
    """

    def __init__(self, kind: str, port: int, log_path: Path, cluster: KafkaCluster | None = None) -> None:
        self.kind = kind
        self.port = port
        self.log_path = log_path
        self._proc: ManagedProcess | None = None
        self._cluster = cluster

    @property
    def bootstrap(self) -> str:
        """Bootstrap address for Kafka clients: ``127.0.0.1:PORT``."""
        return f"{HOST}:{self.port}"

    @property
    def running(self) -> bool:
        if self._cluster is not None:
            return self._cluster.running(1)
        return self._proc is not None and self._proc.running

    def start(self) -> None:
        """Start (or restart) the broker and wait until it serves."""
        if self.running:
            return
        if self._cluster is not None:
            self._cluster.start_node(1)
            self._cluster.wait_ready()
        else:
            self._proc = start_tansu(self.port, log_path=self.log_path)

    def stop(self) -> None:
        """Stop the broker: its port refuses connections until ``start()``."""
        if self._cluster is not None:
            self._cluster.stop_node(1)
        elif self._proc is not None:
            self._proc.stop()
            self._proc = None


@pytest.fixture(scope="session")
def apache_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaCluster]:
    """One Apache Kafka node (KRaft, controller and broker) for this test session (or worker)."""
    from deploy.apache_kafka import start_kafka

    root = tmp_path_factory.mktemp("apache-kafka")
    cluster = start_kafka(free_port(), root / "data", log_dir=root)
    try:
        yield cluster
    finally:
        cluster.stop(timeout=30)


#: The clinic systems the SASL broker (``acl_kafka``) knows, each with its own user and ACLs.
ACL_SYSTEMS = ("emr", "website")


def sasl_password(user: str) -> str:
    """The password of ``user`` on the SASL broker (``acl_kafka``)."""
    return f"{user}-password"


@pytest.fixture(scope="session")
def acl_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaCluster]:
    """Apache Kafka with SASL/SCRAM and the StandardAuthorizer, for this session (or worker): a user
    per service and per system of ``ACL_SYSTEMS`` (``shared/kafka_access.py`` names them), and the
    ACLs ``deploy/kafka_acls.py`` declares, applied with Kafka's own kafka-acls. Nothing else is
    allowed; only the admin (``cluster.client_options()``) is a super user."""
    from deploy.apache_kafka import Sasl, start_kafka
    from deploy.kafka_acls import apply, rules
    from shared.kafka_access import SERVICES, service_user, system_user

    users = [service_user(s) for s in SERVICES] + [system_user(s) for s in ACL_SYSTEMS]
    sasl = Sasl({user: sasl_password(user) for user in users}, admin_password="admin-password")
    root = tmp_path_factory.mktemp("acl-kafka")
    cluster = start_kafka(free_port(), root / "data", sasl=sasl, log_dir=root)
    try:
        admin = root / "admin.properties"
        admin.write_text(sasl.java_client_properties())
        apply(cluster.bootstrap, admin, rules(systems=ACL_SYSTEMS))
        yield cluster
    finally:
        cluster.stop(timeout=30)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # Every test that reaches the broker, directly or through another fixture, runs once per broker.
    if "kafka_broker" in metafunc.fixturenames:
        metafunc.parametrize("kafka_broker", _brokers_asked(), indirect=True)


@pytest.fixture
def kafka_broker(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                 monkeypatch: pytest.MonkeyPatch) -> Iterator[KafkaBroker]:
    """A broker for this test, controllable to simulate an outage (see :class:`KafkaBroker`)."""
    if request.param == "tansu":
        broker = KafkaBroker("tansu", free_port(), tmp_path_factory.mktemp("tansu") / "tansu.log")
        broker.start()
        try:
            yield broker
        finally:
            broker.stop()
        return
    cluster: KafkaCluster = request.getfixturevalue("apache_kafka")
    broker = KafkaBroker("apache", cluster.nodes[0].port, cluster.nodes[0].log_path, cluster)
    broker.start()
    # Production's settings: every service and example system started by the test reads them.
    monkeypatch.setenv("KAFKA_IDEMPOTENT_PRODUCER", "true")
    try:
        yield broker
    finally:
        broker.start()  # a test that left it stopped
        empty_broker(cluster)


def empty_broker(cluster: KafkaCluster) -> None:
    """Delete every topic but Kafka's own, and wait until the metadata no longer names them."""
    from deploy.apache_kafka import delete_all_topics

    delete_all_topics(cluster)


@pytest.fixture
def kafka_bootstrap(kafka_broker: KafkaBroker) -> str:
    """Bootstrap address of a fresh broker for this test only (``127.0.0.1:PORT``).

    Built on ``kafka_broker``, so a test asking for both gets the same broker.
    """
    return kafka_broker.bootstrap
