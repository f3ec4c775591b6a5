"""Fixtures giving tests a real PostgreSQL and a real Kafka-protocol broker (Tansu).

Both servers are the embedded ones from the ``dev`` extra (see ``deploy/local_infra.py``)
on random loopback ports, never a server that happens to run on the machine. They fail
loudly when they cannot start: a test that needs them errors instead of being skipped.

* ``postgres_server`` (session): one throwaway cluster for the whole run.
* ``template_database`` (session): ``dongui_template``, migrated once.
* ``database_url`` (function): a fresh copy of the template per test, dropped afterwards.
* ``kafka_broker`` / ``kafka_bootstrap`` (function): a fresh, empty broker per test.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from deploy.local_infra import (
    HOST,
    ManagedProcess,
    free_port,
    run_psql,
    start_postgres,
    start_tansu,
)

TEMPLATE_DATABASE = "dongui_template"


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


class KafkaBroker:
    """A Tansu broker owned by one test, which may stop and restart it (same port)."""

    def __init__(self, port: int, log_path: Path) -> None:
        self.port = port
        self.log_path = log_path
        self._proc: ManagedProcess | None = None

    @property
    def bootstrap(self) -> str:
        """Bootstrap address for Kafka clients: ``127.0.0.1:PORT``."""
        return f"{HOST}:{self.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.running

    def start(self) -> None:
        """Start (or restart) the broker; it comes back empty, being memory-only."""
        if self.running:
            return
        self._proc = start_tansu(self.port, log_path=self.log_path)

    def stop(self) -> None:
        """Stop the broker: its port refuses connections until ``start()``."""
        if self._proc is not None:
            self._proc.stop()
            self._proc = None


@pytest.fixture
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    """A fresh broker for this test only, controllable to simulate an outage."""
    broker = KafkaBroker(free_port(), tmp_path_factory.mktemp("tansu") / "tansu.log")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def kafka_bootstrap(kafka_broker: KafkaBroker) -> str:
    """Bootstrap address of a fresh broker for this test only (``127.0.0.1:PORT``).

    Built on ``kafka_broker``, so a test asking for both gets the same broker.
    """
    return kafka_broker.bootstrap
