"""The Kafka ACLs (deploy/kafka_acls.py, from shared/kafka_access.py): made from the code, shown in
docs/deployment.md as generated, and sufficient: the three services and a clinic system, each with
its own SCRAM user and only its own ACLs, on Apache Kafka where nothing else is allowed, record a
consent event the system sent and answer a request through the system's task. What the ACLs
refuse is in tests/test_authorization.py; a service whose password the broker refuses says so."""

from __future__ import annotations

import asyncio
import json
import logging
import time

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from deploy import kafka_acls
from deploy.apache_kafka import delete_all_topics
from deploy.local_infra import free_port
from shared import recordsig
from shared.events import Topic
from shared.kafka_access import CLINIC_SYSTEMS, GROUPS, SERVICES, reads, system_user, topics_of, writes
from shared.operations import OPERATIONS
from tests.conftest import sasl_password

# --- the declaration -----------------------------------------------------------------------------


def test_each_service_consumes_what_it_receives_through_declared_groups() -> None:
    for service in SERVICES:
        grouped = {t for g in GROUPS if g.service == service for t in g.topics}
        assert grouped == reads(service), service
    assert len({g.group_id for g in GROUPS}) == len(GROUPS)
    assert {op.party for op in OPERATIONS} == {*SERVICES, CLINIC_SYSTEMS}


def test_a_service_may_read_write_and_create_only_its_own_topics() -> None:
    for service in SERVICES:
        by_operation = {r.operation: r for r in kafka_acls.service_rules(service)}
        assert set(by_operation) == {"Read", "Write", "Create"}
        assert set(by_operation["Read"].topics) == reads(service)
        assert set(by_operation["Read"].groups) == {g.group_id for g in GROUPS if g.service == service}
        assert set(by_operation["Write"].topics) == writes(service)
        assert set(by_operation["Create"].topics) == topics_of(service)
        assert {r.operation for r in kafka_acls.service_rules(service, create=False)} == {"Read", "Write"}
    assert Topic.dsr_tasks in writes("dsr") and Topic.dsr_tasks not in topics_of("notifier")


def test_a_clinic_system_may_write_its_two_topics_read_tasks_and_use_its_own_groups() -> None:
    rules = kafka_acls.system_rules("emr")
    assert {(r.principal, r.operation, r.topics, r.groups, r.prefixed) for r in rules} == {
        ("User:clinic-emr", "Write", (Topic.consent_inbound, Topic.dsr_task_results), (), False),
        ("User:clinic-emr", "Read", (Topic.dsr_tasks,), (), False),
        ("User:clinic-emr", "Read", (), ("clinic-emr.",), True),
    }
    with pytest.raises(ValueError):
        system_user("emr.all")  # a dot would let one system's group prefix cover another's


def test_the_command_line_prints_the_services_or_one_system(capsys: pytest.CaptureFixture[str]) -> None:
    assert kafka_acls.main([]) == 0
    services = capsys.readouterr().out
    assert services.count("kafka-acls.sh") == 9 and "--operation Create" in services and "clinic-" not in services
    assert kafka_acls.main(["--no-create"]) == 0
    assert "--operation Create" not in capsys.readouterr().out
    assert kafka_acls.main(["--system", "emr"]) == 0
    emr = capsys.readouterr().out
    assert emr.count("kafka-acls.sh") == 3 and "User:clinic-emr" in emr and "dongui-" not in emr
    assert "--group clinic-emr. --resource-pattern-type prefixed" in emr
    assert "--entity-name clinic-emr" in emr  # its SCRAM user


def test_the_deployment_guide_shows_the_declared_acls() -> None:
    shown = kafka_acls.documented(kafka_acls.DOCS.read_text())
    assert shown is not None, f"docs/deployment.md lost the lines {kafka_acls.BEGIN!r} … {kafka_acls.END!r}"
    assert shown == kafka_acls.docs_section(), (
        "docs/deployment.md's ACLs differ from deploy/kafka_acls.py: run `python -m deploy.kafka_acls --update-docs`")


# --- on a real broker ----------------------------------------------------------------------------


def _sasl_env(cluster, user: str) -> dict:
    """A service's settings for ``user``, with production's idempotent producer."""
    return {**cluster.sasl.client_env(user), "KAFKA_IDEMPOTENT_PRODUCER": True}


async def _published(cluster, topic: str, key: bytes, timeout: float = 30.0) -> dict:
    """The first record keyed ``key`` on ``topic``, read as the admin."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=cluster.bootstrap, group_id=None,
                                auto_offset_reset="earliest", **cluster.client_options())
    await consumer.start()
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for record in records:
                    if record.key == key:
                        return json.loads(record.value)
        raise AssertionError(f"nothing keyed {key!r} on {topic} within {timeout:.0f} s")
    finally:
        await consumer.stop()


async def test_the_services_and_a_clinic_system_work_with_their_own_acls_alone(
        acl_kafka, database_url: str, caplog: pytest.LogCaptureFixture) -> None:
    """Each service as its own user, the EMR as clinic-emr, on a broker with only the declared ACLs
    and no topic (the services create theirs): a consent event the EMR sends is recorded and
    published; an access request's task reaches the EMR and its answer completes the request."""
    from examples.clinic_systems.sample_data import load_sample_systems
    from examples.clinic_systems.system import ClinicSystem, Settings
    from services.consent.app import build_app as build_consent
    from services.dsr.app import build_app as build_dsr
    from services.notifier.app import build_app as build_notifier
    from tests.consent.conftest import consent_settings
    from tests.dsr.conftest import Stack, dsr_settings
    from tests.dsr.factories import approve, file, request_body, system_key, verify
    from tests.notifier.conftest import notifier_settings
    from tests.support import MANAGER, STAFF, Served, consent_event, eventually, policy_body, random_id

    delete_all_topics(acl_kafka)  # what an earlier test created: here the services create theirs
    bootstrap = acl_kafka.bootstrap
    consent_app = build_consent(consent_settings(database_url, bootstrap, **_sasl_env(acl_kafka, "dongui-consent")))
    notifier_app = build_notifier(notifier_settings(database_url, bootstrap, **_sasl_env(acl_kafka, "dongui-notifier")))
    async with Served(consent_app, free_port()) as consent, Served(notifier_app, free_port()) as notifier:
        dsr_app = build_dsr(dsr_settings(database_url, bootstrap, consent.url, notifier_url=notifier.url,
                                         **_sasl_env(acl_kafka, "dongui-dsr")))
        async with Served(dsr_app, free_port()) as dsr, httpx.AsyncClient(base_url=dsr.url, timeout=30) as dsr_client, \
                httpx.AsyncClient(base_url=consent.url, timeout=30) as consent_client, \
                httpx.AsyncClient(base_url=notifier.url, timeout=30) as notifier_client:
            stack = Stack(dsr_app, dsr_client, consent_client, database_url, bootstrap)
            assert (await consent_client.post("/v1/policies", json=policy_body(), headers=MANAGER)).status_code == 201
            store = load_sample_systems(("emr",))["emr"]
            settings = Settings(
                kafka_bootstrap_servers=bootstrap, kafka_security_protocol="SASL_PLAINTEXT",
                kafka_sasl_mechanism="SCRAM-SHA-512", kafka_sasl_username=system_user("emr"),
                kafka_sasl_password=sasl_password(system_user("emr")), kafka_idempotent_producer=True,
                session_timeout_ms=2000, heartbeat_interval_ms=500, dsr_url=dsr.url, dsr_api_key="dev-manager",
                consent_url=consent.url, consent_api_key="dev-system")
            emr = asyncio.create_task(ClinicSystem(store, settings).run())
            try:
                async def registered() -> bool:
                    systems = (await dsr_client.get("/v1/systems", headers=STAFF)).json()
                    return any(s["system_id"] == "emr" for s in systems)

                await eventually(registered, timeout=30)
                key_headers = await system_key(stack, "emr")
                key = key_headers["Authorization"].removeprefix("Bearer ")

                async def known_to_consent() -> bool:  # copied from dsr.systems, by its own group
                    return (await consent_client.get("/v1/purposes", headers=key_headers)).status_code == 200

                await eventually(known_to_consent, timeout=60)

                # The EMR's consent event, as its own principal, signed with its own key.
                subject = random_id("patient")
                event = {**consent_event(subject_id=subject, purpose="marketing_email"),
                         "source": store.registration()["source"]}
                value = json.dumps(event).encode()
                headers = recordsig.signed(Topic.consent_inbound, value,
                                           [("content-type", b"application/cloudevents+json")], key)
                producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True,
                                            **acl_kafka.client_options(system_user("emr")))
                await producer.start()
                try:
                    await asyncio.wait_for(producer.send_and_wait(Topic.consent_inbound, value, key=subject.encode(),
                                                                  headers=headers), timeout=60)
                finally:
                    await producer.stop()

                async def granted() -> bool:
                    permission = await consent_client.get(f"/v1/subjects/{subject}/permissions/marketing_email",
                                                          headers=STAFF)
                    return permission.json().get("reason") == "granted"

                await eventually(granted, timeout=60)
                recorded = await _published(acl_kafka, Topic.consent_events, subject.encode())
                assert recorded["type"] == "consent.granted", recorded

                # A data-subject request: its task reaches the EMR, whose answer completes it.
                opened = await file(stack, request_body(subject_id=subject))
                await verify(stack, opened["request_id"])
                approved = await approve(stack, opened["request_id"])
                assert [t["system_id"] for t in approved["tasks"]] == ["emr"]

                async def completed() -> dict | None:
                    body = (await dsr_client.get(f"/v1/requests/{opened['request_id']}", headers=STAFF)).json()
                    return body if body["status"] == "completed" else None

                done = await eventually(completed, timeout=90)
                assert done["tasks"][0]["status"] == "answered", done["tasks"]

                # The notifier read dsr.events through its own group: the manager was told.
                async def told() -> bool:
                    page = await notifier_client.get("/v1/notifications", params={"limit": 200}, headers=STAFF)
                    return any(i["kind"] == "request_received" for i in page.json()["items"])

                await eventually(told, timeout=60)
                for client in (consent_client, dsr_client, notifier_client):
                    health = await client.get("/healthz")
                    assert health.status_code == 200, health.json()
            finally:
                emr.cancel()
                await asyncio.gather(emr, return_exceptions=True)
    refused = [m for m in (r.getMessage() for r in caplog.records) if "AuthorizationFailed" in m or "broker's ACLs" in m]
    assert not refused, refused


async def test_a_refused_password_is_said_at_start_and_in_healthz(
        acl_kafka, database_url: str, caplog: pytest.LogCaptureFixture) -> None:
    """aiokafka reports a refused SASL login as "Unable to bootstrap", as if the broker were down;
    the service asks again and says which settings to change, and /healthz says so too."""
    from services.consent.app import build_app as build_consent
    from tests.consent.conftest import consent_settings
    from tests.support import Served, eventually

    env = {**_sasl_env(acl_kafka, "dongui-consent"), "KAFKA_SASL_PASSWORD": "not its password"}
    app = build_consent(consent_settings(database_url, acl_kafka.bootstrap, **env))
    with caplog.at_level(logging.ERROR, logger="shared"):
        async with Served(app, free_port()) as served, httpx.AsyncClient(base_url=served.url, timeout=30) as client:
            async def refused() -> dict | None:  # polled: /healthz gives the broker 2 s, a loaded machine more
                health = await client.get("/healthz")
                assert health.status_code == 503, health.json()
                return health.json() if health.json()["checks"]["broker"] == "authentication_failed" else None

            await eventually(refused, timeout=30)
    said = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR and r.name.startswith("shared")]
    assert any("KAFKA_SASL_USERNAME" in m and "KAFKA_SASL_PASSWORD" in m and "dongui-consent" in m for m in said), said



async def test_with_the_topics_created_beforehand_a_service_needs_no_create_right(
        acl_kafka, database_url: str, tmp_path, caplog: pytest.LogCaptureFixture) -> None:
    """`python -m deploy.kafka_acls --no-create`: the notifier, its Create ACL taken away, starts on
    topics the admin created and joins its groups; nothing is refused."""
    from services.notifier.app import build_app as build_notifier
    from tests.notifier.conftest import notifier_settings
    from tests.support import Served, ensure_topics, eventually

    await ensure_topics(acl_kafka.bootstrap, list(Topic), **acl_kafka.client_options())
    config = tmp_path / "admin.properties"
    config.write_text(acl_kafka.sasl.java_client_properties())
    create = [r for r in kafka_acls.service_rules("notifier") if r.operation == "Create"]
    assert create and not [r for r in kafka_acls.service_rules("notifier", create=False) if r in create]
    kafka_acls.apply(acl_kafka.bootstrap, config, create, remove=True)
    caplog.set_level(logging.INFO, logger="aiokafka.consumer.group_coordinator")
    try:
        app = build_notifier(notifier_settings(database_url, acl_kafka.bootstrap,
                                               **_sasl_env(acl_kafka, "dongui-notifier")))
        async with Served(app, free_port()) as served, httpx.AsyncClient(base_url=served.url) as client:
            groups = [g.group_id for g in GROUPS if g.service == "notifier"]

            async def joined() -> bool:  # each of its groups, as aiokafka tells it
                said = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Joined group")]
                return all(any(f"'{group}'" in m for m in said) for group in groups)

            await eventually(joined, timeout=60)
            assert (await client.get("/healthz")).status_code == 200
    finally:
        kafka_acls.apply(acl_kafka.bootstrap, config, create)
    refused = [m for m in (r.getMessage() for r in caplog.records) if "AuthorizationFailed" in m or "broker's ACLs" in m]
    assert not refused, refused
